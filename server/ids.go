package server

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/raft"
)

// memberID derives a member's ID from its peer URLs and the cluster token,
// as etcd does, so every member computes the same IDs for the initial
// cluster from the same flags. added, for a member added later with
// MemberAdd, mixes in the time of the request: an ID is never reused, even
// when a removed member comes back at the same URLs with a wiped disk (it
// might otherwise vote twice in a term it voted in before).
func memberID(peerURLs []string, token string, added time.Time) raft.NodeID {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	hash := sha256.New()
	hash.Write([]byte(strings.Join(urls, ",")))
	hash.Write([]byte{0})
	hash.Write([]byte(token))
	if !added.IsZero() {
		hash.Write(binary.BigEndian.AppendUint64(nil, uint64(added.UnixNano())))
	}
	return nonZero(hash.Sum(nil))
}

// clusterID derives the cluster's ID from its initial members and token.
func clusterID(members []raft.NodeID, token string) uint64 {
	ids := slices.Clone(members)
	slices.Sort(ids)
	hash := sha256.New()
	for _, id := range ids {
		hash.Write(binary.BigEndian.AppendUint64(nil, uint64(id)))
	}
	hash.Write([]byte(token))
	return uint64(nonZero(hash.Sum(nil)))
}

// nonZero reads an ID from a digest; 0 means "none" in Raft, and etcd's
// clients print IDs as hex, so the top bit is kept clear for tools that
// parse them as signed numbers.
func nonZero(digest []byte) raft.NodeID {
	id := binary.BigEndian.Uint64(digest) &^ (1 << 63)
	if id == 0 {
		id = 1
	}
	return raft.NodeID(id)
}
