package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/lockstepdb/lockstep/kv"
)

// kvService implements etcd's KV service. A write is checked as etcd
// checks it, in etcd's order: the quota first (a write that would grow the
// store), then etcd's request checks and the request's size, both by
// kv.NewCommand in propose.
type kvService struct {
	pb.UnimplementedKVServer
	server *Server
}

// Range reads locally: after the read barrier unless the request is
// serializable.
func (k *kvService) Range(ctx context.Context, request *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := kv.ValidateRequest(&pb.InternalRaftRequest{Range: request}, 0); err != nil {
		return nil, err
	}
	if !request.Serializable {
		if err := k.server.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	if err := k.server.authorizeRange(ctx, request); err != nil {
		return nil, err
	}
	response, err := k.server.store.Range(request)
	if err != nil {
		return nil, err
	}
	k.server.fillHeader(response.Header, response.GetHeader().GetRevision())
	return response, nil
}

func (k *kvService) Put(ctx context.Context, request *pb.PutRequest) (*pb.PutResponse, error) {
	if err := k.server.checkQuota(ctx); err != nil {
		return nil, err
	}
	return proposeOrForward(k.server, ctx, &pb.InternalRaftRequest{Put: request},
		func(ctx context.Context, leader *leaderClients) (*pb.PutResponse, error) {
			return leader.kv.Put(ctx, request)
		})
}

func (k *kvService) DeleteRange(ctx context.Context, request *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return proposeOrForward(k.server, ctx, &pb.InternalRaftRequest{DeleteRange: request},
		func(ctx context.Context, leader *leaderClients) (*pb.DeleteRangeResponse, error) {
			return leader.kv.DeleteRange(ctx, request)
		})
}

func (k *kvService) Txn(ctx context.Context, request *pb.TxnRequest) (*pb.TxnResponse, error) {
	if kv.TxnHasPuts(request) {
		if err := k.server.checkQuota(ctx); err != nil {
			return nil, err
		}
	}
	return proposeOrForward(k.server, ctx, &pb.InternalRaftRequest{Txn: request},
		func(ctx context.Context, leader *leaderClients) (*pb.TxnResponse, error) {
			return leader.kv.Txn(ctx, request)
		})
}

func (k *kvService) Compact(ctx context.Context, request *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	response, err := proposeOrForward(k.server, ctx, &pb.InternalRaftRequest{Compaction: request},
		func(ctx context.Context, leader *leaderClients) (*pb.CompactionResponse, error) {
			return leader.kv.Compact(ctx, request)
		})
	if err == nil && request.Physical {
		err = k.server.waitCompacted(ctx)
	}
	return response, err
}
