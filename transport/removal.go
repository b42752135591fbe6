package transport

import (
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/raft"
)

// removedMarker ends the status message with which a receiver refuses a
// removed member's stream; with codes.PermissionDenied it is how the
// sender recognises that refusal.
const removedMarker = "was removed from the cluster"

// UseRemovals tells the transport how to treat members removed from the
// cluster, as etcd's peers do: a stream or batch from a node for which
// wasRemoved is true is refused with a status saying so (streams already
// open are ended at their next batch), and noteRemoved is called when a
// peer refuses this node's stream that way, so the node learns of its own
// removal even when the leader stopped replicating to it first. The node
// runtime calls it before Start; either function may be nil.
func (t *Transport) UseRemovals(wasRemoved func(raft.NodeID) bool, noteRemoved func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.wasRemoved, t.noteRemoved = wasRemoved, noteRemoved
}

// refuseRemoved returns the status that refuses a stream from a removed
// member, or nil when from is not one.
func (t *Transport) refuseRemoved(from raft.NodeID) error {
	if t.wasRemoved == nil || !t.wasRemoved(from) {
		return nil
	}
	t.counters.rejectedRemoved.Add(1)
	return status.Errorf(codes.PermissionDenied, "transport: member %v %s", from, removedMarker)
}

// isRemovedRefusal reports whether err is a peer's refusal of this node's
// stream because this node was removed.
func isRemovedRefusal(err error) bool {
	refusal, ok := status.FromError(err)
	return ok && refusal.Code() == codes.PermissionDenied && strings.HasSuffix(refusal.Message(), removedMarker)
}

// noticeRemoved handles a stream error: a removal refusal is logged and
// reported to the node.
func (p *peer) noticeRemoved(err error) {
	if !isRemovedRefusal(err) {
		return
	}
	p.transport.limiter.log(p.logger, "removed", slog.LevelError, fmt.Sprintf("peer %v refused this member's messages: this member has been permanently removed from the cluster", p.id))
	if p.transport.noteRemoved != nil {
		p.transport.noteRemoved()
	}
}

// wrongClusterMarker starts the refusal of a stream from another cluster,
// so that the sender can tell it from other failures.
const wrongClusterMarker = "peer of another cluster:"

// noticeWrongCluster logs, at error level, a peer's refusal of this
// node's stream because it belongs to another cluster, with what this
// node has to compare (the refusal carries the peer's side).
func (p *peer) noticeWrongCluster(err error) {
	refusal, ok := status.FromError(err)
	if !ok || refusal.Code() != codes.FailedPrecondition || !strings.Contains(refusal.Message(), wrongClusterMarker) {
		return
	}
	p.transport.limiter.log(p.logger, fmt.Sprintf("wrong cluster %v", p.id), slog.LevelError, "peer belongs to another cluster: it refuses this member's messages",
		"cluster", fmt.Sprintf("%x", p.transport.config.ClusterID), "peer_said", refusal.Message(), "check", p.transport.config.ClusterHint)
}
