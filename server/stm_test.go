package server

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestSTMTransfersKeepTheTotal moves money between accounts from several
// clients at once with clientv3's software transactional memory (which
// relies on Txn compares on mod revision, WithRev reads and serializable
// reads): every isolation level the package offers must keep the total.
func TestSTMTransfersKeepTheTotal(t *testing.T) {
	cluster := startCluster(t, 3, nil)
	ctx := testContext(t)
	const accounts, balance = 5, 100
	setup := cluster.client()
	for i := range accounts {
		if _, err := setup.Put(ctx, fmt.Sprintf("account/%d", i), strconv.Itoa(balance)); err != nil {
			t.Fatal(err)
		}
	}
	isolations := []concurrency.Isolation{concurrency.SerializableSnapshot, concurrency.Serializable, concurrency.RepeatableReads}
	var group sync.WaitGroup
	errs := make(chan error, 16)
	for worker := range 6 {
		client := cluster.client(cluster.endpoint(worker % 3))
		group.Go(func() {
			for step := range 10 {
				from, to := fmt.Sprintf("account/%d", (worker+step)%accounts), fmt.Sprintf("account/%d", (worker+step+1)%accounts)
				_, err := concurrency.NewSTM(client, func(stm concurrency.STM) error {
					source, _ := strconv.Atoi(stm.Get(from))
					target, _ := strconv.Atoi(stm.Get(to))
					if source < 7 {
						return nil
					}
					stm.Put(from, strconv.Itoa(source-7))
					stm.Put(to, strconv.Itoa(target+7))
					return nil
				}, concurrency.WithIsolation(isolations[worker%len(isolations)]), concurrency.WithAbortContext(ctx))
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	group.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	get, err := setup.Get(ctx, "account/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, kv := range get.Kvs {
		value, _ := strconv.Atoi(string(kv.Value))
		total += value
	}
	if total != accounts*balance {
		t.Fatalf("total %d after transfers, want %d", total, accounts*balance)
	}
}
