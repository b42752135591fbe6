package kv

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// openBatchTestDB opens an empty Pebble database in memory.
func openBatchTestDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// contents lists every key and value of db, in order.
func contents(t *testing.T, db *pebble.DB) []string {
	t.Helper()
	iterator, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer iterator.Close()
	var list []string
	for iterator.First(); iterator.Valid(); iterator.Next() {
		list = append(list, fmt.Sprintf("%q=%q", iterator.Key(), iterator.Value()))
	}
	return list
}

// writes returns a batch's writes in its order, as "kind key value".
func writes(t *testing.T, batch *pebble.Batch) []string {
	t.Helper()
	var list []string
	reader := batch.Reader()
	for {
		kind, key, value, ok, err := reader.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return list
		}
		list = append(list, fmt.Sprintf("%v %s %s", kind, key, value))
	}
}

// A batch of puts as Apply writes them (current, history and event
// records in turn, then the store's state), with an overwrite of one key
// and a range deletion in one table, commits grouped by table to the same
// contents as in its own order.
func TestGroupedByTableCommitsTheSameContents(t *testing.T) {
	preload := func(db *pebble.DB) {
		for _, key := range []string{"h/old/1", "h/old/2", "h/zzz", "e/0001"} {
			if err := db.Set([]byte(key), []byte("before"), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill := func(batch *pebble.Batch) {
		for i := range 10 {
			must(t, batch.Set(fmt.Appendf(nil, "c/key%02d", i), fmt.Appendf(nil, "v%d", i), nil))
			must(t, batch.Set(fmt.Appendf(nil, "h/key%02d/%d", i, i), fmt.Appendf(nil, "v%d", i), nil))
			must(t, batch.Set(fmt.Appendf(nil, "e/%04d", i+2), fmt.Appendf(nil, "key%02d", i), nil))
			if i == 4 {
				// In the history table: deletes what the table held and the
				// writes of this batch before it, not those after.
				must(t, batch.DeleteRange([]byte("h/"), []byte("h/key03"), nil))
				must(t, batch.Set([]byte("h/key01/late"), []byte("kept"), nil))
				must(t, batch.Set([]byte("c/key01"), []byte("overwritten"), nil))
				must(t, batch.Delete([]byte("c/key02"), nil))
			}
		}
		must(t, batch.Set([]byte("M/applied"), []byte("10"), nil))
	}
	plain, grouped := openBatchTestDB(t), openBatchTestDB(t)
	preload(plain)
	preload(grouped)

	original := plain.NewIndexedBatch()
	fill(original)
	must(t, original.Commit(pebble.NoSync))

	source := grouped.NewIndexedBatch()
	fill(source)
	regrouped := groupedByTable(grouped, source)
	if regrouped == nil {
		t.Fatal("a batch of 35 writes over four tables was not grouped")
	}
	order := writes(t, regrouped)
	if len(order) != int(source.Count()) {
		t.Fatalf("%d writes grouped, want %d", len(order), source.Count())
	}
	must(t, regrouped.Commit(pebble.NoSync))
	regrouped.Close()
	source.Close()

	want, got := contents(t, plain), contents(t, grouped)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("grouped by table, the batch left\n%v\nwant\n%v", got, want)
	}
}

// The writes of each table stay in their order, and the tables come in
// the order of their first writes.
func TestGroupedByTableKeepsEachTablesOrder(t *testing.T) {
	db := openBatchTestDB(t)
	batch := db.NewIndexedBatch()
	defer batch.Close()
	for i := range 8 {
		must(t, batch.Set(fmt.Appendf(nil, "c/%d", 8-i), nil, nil)) // descending: kept so
		must(t, batch.Set(fmt.Appendf(nil, "h/%d", i), nil, nil))
		must(t, batch.Set(fmt.Appendf(nil, "e/%d", i), nil, nil))
	}
	grouped := groupedByTable(db, batch)
	if grouped == nil {
		t.Fatal("not grouped")
	}
	defer grouped.Close()
	var keys []string
	for _, write := range writes(t, grouped) {
		var kind, key, value string
		fmt.Sscan(write, &kind, &key, &value)
		keys = append(keys, key)
	}
	want := "[c/8 c/7 c/6 c/5 c/4 c/3 c/2 c/1 h/0 h/1 h/2 h/3 h/4 h/5 h/6 h/7 e/0 e/1 e/2 e/3 e/4 e/5 e/6 e/7]"
	if fmt.Sprint(keys) != want {
		t.Fatalf("grouped order %v, want %s", keys, want)
	}
}

// A batch it cannot regroup safely, or need not, is committed as it is.
func TestGroupedByTableLeavesSomeBatchesAlone(t *testing.T) {
	db := openBatchTestDB(t)
	interleaved := func(batch *pebble.Batch, count int) {
		for i := range count {
			must(t, batch.Set(fmt.Appendf(nil, "c/%d", i), nil, nil))
			must(t, batch.Set(fmt.Appendf(nil, "h/%d", i), nil, nil))
		}
	}
	for name, fill := range map[string]func(*pebble.Batch){
		"too few writes": func(batch *pebble.Batch) { interleaved(batch, minimumToGroup/2-1) },
		"one table": func(batch *pebble.Batch) {
			for i := range 2 * minimumToGroup {
				must(t, batch.Set(fmt.Appendf(nil, "c/%d", i), nil, nil))
			}
		},
		"a range deletion across tables": func(batch *pebble.Batch) {
			interleaved(batch, minimumToGroup)
			must(t, batch.DeleteRange([]byte("c/5"), []byte("h/2"), nil))
		},
		"a merge": func(batch *pebble.Batch) {
			interleaved(batch, minimumToGroup)
			must(t, batch.Merge([]byte("c/1"), []byte("x"), nil))
		},
		"an empty key": func(batch *pebble.Batch) {
			interleaved(batch, minimumToGroup)
			must(t, batch.Set(nil, []byte("x"), nil))
		},
	} {
		batch := db.NewIndexedBatch()
		fill(batch)
		if grouped := groupedByTable(db, batch); grouped != nil {
			grouped.Close()
			t.Errorf("%s: grouped", name)
		}
		batch.Close()
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
