package server

import (
	"google.golang.org/grpc/status"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// RangeStream answers etcd 3.7's streamed Range locally, as Range: the
// request is checked first (kv.ValidateRangeStream), then a linearizable
// request waits for the read barrier once, then the chunks of
// kv.RangeStream are sent, each read at the revision the first one fixed
// and sized against --max-request-bytes as etcd does. The last chunk alone
// carries the header, filled as Range's. The client's cancellation is
// checked before every chunk.
func (k *kvService) RangeStream(request *pb.RangeRequest, stream pb.KV_RangeStreamServer) error {
	ctx := stream.Context()
	chunks, err := k.server.store.NewRangeStream(request, k.server.config.MaxRequestBytes)
	if err != nil {
		return err
	}
	if !request.Serializable {
		if err := k.server.readBarrier(ctx); err != nil {
			return err
		}
	}
	if err := k.server.authorizeRange(ctx, request); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		chunk, err := chunks.Next()
		if err != nil {
			return err
		}
		last := chunk.Header != nil
		if last {
			k.server.fillHeader(chunk.Header, chunk.Header.Revision)
		}
		if err := stream.Send(&pb.RangeStreamResponse{RangeResponse: chunk}); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}
