package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lockstepdb/lockstep/raft"
	"github.com/lockstepdb/lockstep/transport"
)

// resolveIdentity returns who this member is: from its data directory if
// it has run before (fresh false); computed from the initial cluster for a
// new cluster; learned from the running members for a member joining one
// (added beforehand with MemberAdd, which chose its ID).
func (s *Server) resolveIdentity() (who identity, fresh bool, err error) {
	who, err = loadIdentity(s.config.DataDirectory)
	switch {
	case err == nil:
		if who.Name != s.config.Name {
			return identity{}, false, fmt.Errorf("server: data directory %s belongs to member %q, not --name %q", s.config.DataDirectory, who.Name, s.config.Name)
		}
		return who, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return identity{}, false, err
	}
	if s.config.InitialClusterState == "existing" {
		who, err = s.learnIdentity()
		return who, true, err
	}
	return newClusterIdentity(s.config), true, nil
}

// newClusterIdentity computes the identity of config.Name in the new
// cluster that config.InitialCluster and config.InitialClusterToken
// describe: every member computes the same IDs from the same flags.
func newClusterIdentity(config Config) identity {
	who := identity{Name: config.Name, Peers: map[raft.NodeID]string{}}
	var ids []raft.NodeID
	for name, urls := range config.InitialCluster {
		id := memberID(urls, config.InitialClusterToken, time.Time{})
		ids = append(ids, id)
		who.Peers[id] = strings.Join(urls, ",")
		if name == config.Name {
			who.MemberID = id
		}
	}
	who.ClusterID = clusterID(ids, config.InitialClusterToken)
	who.Token = config.InitialClusterToken
	return who
}

// clusterInfo is what every member publishes on its peer port
// (transport.Config.Info): enough for a joining member to find itself.
type clusterInfo struct {
	ClusterID uint64       `json:"cluster_id"`
	Members   []memberInfo `json:"members"`
}

type memberInfo struct {
	ID       raft.NodeID `json:"id"`
	PeerURLs []string    `json:"peer_urls"`
	Learner  bool        `json:"learner"`
}

// publishedInfo answers FetchInfo; called from the transport's goroutines.
// The list is linearizable: it is read after a read barrier, so it holds
// every membership change committed before the question. A member that
// lags (restoring a snapshot, cut off from the leader) would otherwise
// list a member removed since, at the URL where its successor was just
// added, and the joining successor would take the removed member's ID,
// which the cluster refuses for good (a one-hour lockstep check soak
// met it). A member that cannot pass the barrier in time answers nothing,
// and the joiner asks another.
func (s *Server) publishedInfo() []byte {
	if s.node == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishedInfoTimeout)
	defer cancel()
	if err := s.readBarrier(ctx); err != nil {
		s.log.Debug("not publishing the member list to a joining member: no read barrier", "error", err)
		return nil
	}
	members, err := s.members(ctx)
	if err != nil {
		return nil
	}
	info := clusterInfo{ClusterID: s.clusterID}
	for _, member := range members {
		info.Members = append(info.Members, memberInfo{ID: raft.NodeID(member.ID), PeerURLs: member.PeerURLs, Learner: member.IsLearner})
	}
	data, _ := json.Marshal(info)
	return data
}

// publishedInfoTimeout bounds the read barrier and the listing behind
// one answer to FetchInfo; the joiner waits 2 s for it.
const publishedInfoTimeout = 1500 * time.Millisecond

// learnIdentity asks the other members named in --initial-cluster for the
// member list and finds this member in it by its advertised peer URLs. A
// member that has not yet applied the MemberAdd may not list it, so every
// member is asked, and asked again, for up to joinTimeout.
func (s *Server) learnIdentity() (identity, error) {
	deadline := time.Now().Add(joinTimeout)
	for {
		who, problems, found := s.askMembers()
		if found {
			return who, nil
		}
		if time.Now().After(deadline) {
			slices.Sort(problems)
			return identity{}, fmt.Errorf("server: --initial-cluster-state existing, but no member lists one with peer URLs %v (add it first: etcdctl member add %s --peer-urls=%s): %s",
				s.config.AdvertisePeerURLs, s.config.Name, strings.Join(s.config.AdvertisePeerURLs, ","), strings.Join(problems, "; "))
		}
		time.Sleep(joinRetry) // the cluster is applying the MemberAdd, or starting
	}
}

// How long a joining member keeps asking the cluster for its identity.
const (
	joinTimeout = 30 * time.Second
	joinRetry   = 200 * time.Millisecond
)

// askMembers asks each other member once; found is set when one listed
// this member.
func (s *Server) askMembers() (who identity, problems []string, found bool) {
	for name, urls := range s.config.InitialCluster {
		if name == s.config.Name {
			continue
		}
		for _, raw := range urls {
			address, _ := hostPort(raw)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			data, err := transport.FetchInfo(ctx, address, s.config.PeerTLS)
			cancel()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", raw, err))
				continue
			}
			var info clusterInfo
			if err := json.Unmarshal(data, &info); err != nil || info.ClusterID == 0 {
				problems = append(problems, fmt.Sprintf("%s: unreadable member list", raw))
				continue
			}
			who := identity{Name: s.config.Name, ClusterID: info.ClusterID, Peers: map[raft.NodeID]string{}}
			for _, member := range info.Members {
				who.Peers[member.ID] = strings.Join(member.PeerURLs, ",")
				if sameURLs(member.PeerURLs, s.config.AdvertisePeerURLs) {
					who.MemberID = member.ID
				}
			}
			if who.MemberID != raft.None {
				return who, nil, true
			}
			problems = append(problems, fmt.Sprintf("%s: does not list it", raw))
		}
	}
	return identity{}, problems, false
}

// urlTransport lets the node keep peer URLs (comma-separated, as etcd
// lists them) in its address book while the transport dials host:port.
type urlTransport struct{ *transport.Transport }

// SetPeer dials the first of the peer's URLs.
func (t urlTransport) SetPeer(id raft.NodeID, urls string) {
	first, _, _ := strings.Cut(urls, ",")
	address, err := hostPort(first)
	if err != nil {
		address = first // an address given without a scheme
	}
	t.Transport.SetPeer(id, address)
}
