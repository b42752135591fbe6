package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/lockstepdb/lockstep/kv"
	"github.com/lockstepdb/lockstep/raft"
)

// gatewayMetadataKey is the metadata etcd's gRPC gateway adds to the
// calls it makes for HTTP clients over its own client certificate: etcd
// never takes such a call's certificate Common Name as the user, and
// neither does lockstep (which has no gateway: a client sending it is
// nobody, as with etcd).
const gatewayMetadataKey = "grpcgateway-accept"

// forwardedUserKey carries, on a call a follower forwards to the leader,
// the user name the follower took from its client's certificate. The
// leader believes it only from a connection that presents a member's
// peer certificate (memberCertificateError): any client may send any
// metadata.
const forwardedUserKey = "lockstep-forwarded-user"

// clientCertAuth reports whether the client port requires and verifies
// client certificates (--client-cert-auth), which makes a verified
// certificate's Common Name the user of a call without a token, as in
// etcd.
func (s *Server) clientCertAuth() bool {
	return s.config.ClientTLS != nil && s.config.ClientTLS.ClientAuth == tls.RequireAndVerifyClientCert
}

// certificateUser returns the Common Name of the client certificate the
// TLS handshake of ctx's connection verified: etcd's AuthInfoFromTLS,
// which takes the leaf of the first verified chain, an empty name
// included (a user nobody can be, refused as unknown). False without
// --client-cert-auth, without a verified certificate, for a call marked
// as from etcd's gateway, and for a call a follower forwarded: its
// connection's certificate is the follower's, not the client's.
func (s *Server) certificateUser(ctx context.Context) (string, bool) {
	if !s.clientCertAuth() || isForwarded(ctx) || len(metadata.ValueFromIncomingContext(ctx, gatewayMetadataKey)) > 0 {
		return "", false
	}
	state, ok := connectionState(ctx)
	if !ok {
		return "", false
	}
	for _, chain := range state.VerifiedChains {
		if len(chain) > 0 {
			return chain[0].Subject.CommonName, true
		}
	}
	return "", false
}

// connectionState returns the TLS state of ctx's connection.
func connectionState(ctx context.Context) (tls.ConnectionState, bool) {
	from, ok := peer.FromContext(ctx)
	if !ok {
		return tls.ConnectionState{}, false
	}
	info, ok := from.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return info.State, true
}

// forwardedCaller is the caller of a call that names its user in
// forwardedUserKey: that user, at the current auth revision as etcd
// gives a certificate's user, if the connection presents a member's peer
// certificate; otherwise the call is refused with PermissionDenied and
// the refusal logged with the remote address.
func (s *Server) forwardedCaller(ctx context.Context, user string, revision uint64) (caller, error) {
	if err := s.memberCertificateError(ctx); err != nil {
		s.log.Warn("refusing a forwarded identity", "remote", remoteAddress(ctx), "user", user, "reason", err.Error())
		return caller{}, status.Errorf(codes.PermissionDenied,
			"lockstep: %s is accepted only from a cluster member forwarding a call: %v", forwardedUserKey, err)
	}
	return caller{identity: kv.Identity{User: user, Revision: revision}, certified: true}, nil
}

// memberCertificateError says why the client certificate of ctx's
// connection is not a member's, or nil: it must chain to the peer
// trusted CAs (--peer-trusted-ca-file) for client authentication, and
// pass the checks a peer connection gets (--peer-cert-allowed-cn,
// --peer-cert-allowed-hostname). So a follower proves it is a member as
// it does on the peer port, where a member can already propose anything:
// believing its word about a client's user gives it nothing more.
func (s *Server) memberCertificateError(ctx context.Context) error {
	if !s.authenticatesMembers() {
		return errors.New("this member does not authenticate members (it needs --peer-client-cert-auth with --peer-trusted-ca-file)")
	}
	state, ok := connectionState(ctx)
	if !ok || len(state.PeerCertificates) == 0 {
		return errors.New("the connection presented no client certificate")
	}
	intermediates := x509.NewCertPool()
	for _, certificate := range state.PeerCertificates[1:] {
		intermediates.AddCert(certificate)
	}
	options := x509.VerifyOptions{Roots: s.config.PeerTLS.ClientCAs, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := state.PeerCertificates[0].Verify(options); err != nil {
		return errors.New("the client certificate is not a member's: " + err.Error())
	}
	return checkPeerCertificate(state, s.config.PeerCertAllowedCN, s.config.PeerCertAllowedHostname)
}

// authenticatesMembers reports whether peers must present certificates
// the peer trusted CAs signed (--peer-client-cert-auth): the one way
// members prove who they are.
func (s *Server) authenticatesMembers() bool {
	return s.config.PeerTLS != nil && s.config.PeerTLS.ClientAuth == tls.RequireAndVerifyClientCert && s.config.PeerTLS.ClientCAs != nil
}

// canProveMembership reports whether this member can forward a call as a
// member (forwardedUserKey): it authenticates members, and has a peer
// certificate to present.
func (s *Server) canProveMembership() bool {
	return s.authenticatesMembers() && len(s.config.PeerTLS.Certificates) > 0
}

// forwardedIdentity says how a follower forwards ctx's call: with the
// client's token, if it sent one (the leader resolves it: asMember
// false); as a member naming the user of the client's certificate
// (asMember true, user); or, for a client that is nobody, as before. A
// call whose user is its certificate's, on a member that cannot prove it
// is one, is refused with a precise error: the leader could not tell
// the follower from a client claiming any user.
func (s *Server) forwardedIdentity(ctx context.Context) (user string, asMember bool, err error) {
	if _, ok := incomingToken(ctx); ok {
		return "", false, nil
	}
	user, ok := s.certificateUser(ctx)
	if !ok {
		return "", false, nil
	}
	if s.canProveMembership() {
		// Sent even while this member sees auth disabled: the leader may
		// have applied an AuthEnable this member has not yet.
		return user, true, nil
	}
	if found, _ := callerFrom(ctx); found.certified {
		return "", false, status.Errorf(codes.FailedPrecondition,
			"lockstep: this member is not the leader and cannot forward a call made as the client certificate's user %q: "+
				"it proves to the leader that it is a member with its peer certificate, which needs --peer-client-cert-auth "+
				"(with --peer-cert-file, --peer-key-file and --peer-trusted-ca-file) on every member; "+
				"send the call to the leader, or configure peer mutual TLS", user)
	}
	return "", false, nil
}

// forwardingContext returns the outgoing context and the clients with
// which this follower forwards ctx's call to leader (forwardedIdentity).
func (s *Server) forwardingContext(ctx context.Context, leader raft.NodeID) (context.Context, *leaderClients, error) {
	user, asMember, err := s.forwardedIdentity(ctx)
	if err != nil {
		return nil, nil, err
	}
	clients, err := s.forwarder.clients(ctx, leader, asMember)
	if err != nil {
		return nil, nil, err
	}
	outgoing := outgoingForwarded(ctx)
	if asMember {
		outgoing = metadata.AppendToOutgoingContext(outgoing, forwardedUserKey, user)
	}
	return outgoing, clients, nil
}
