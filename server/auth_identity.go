package server

import (
	"context"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/lockstepdb/lockstep/kv"
)

// tokenMetadataKey is the gRPC metadata key clientv3 and etcdctl send
// their token under (rpctypes.TokenFieldNameGRPC).
const tokenMetadataKey = "token"

// incomingToken returns the token a call carries: under tokenMetadataKey,
// or else, as etcd also takes it, under "authorization"
// (rpctypes.TokenFieldNameSwagger), where the JSON gateway puts the HTTP
// Authorization header.
func incomingToken(ctx context.Context) (string, bool) {
	for _, key := range []string{tokenMetadataKey, rpctypes.TokenFieldNameSwagger} {
		if tokens := metadata.ValueFromIncomingContext(ctx, key); len(tokens) > 0 {
			return tokens[0], true
		}
	}
	return "", false
}

// etcdMethodPrefix starts the full name of every etcd API method; the
// interceptors leave other services (health, the members' internal one)
// alone.
const etcdMethodPrefix = "/etcdserverpb."

// authenticateMethod needs no token: it is how a client gets one.
const authenticateMethod = "/etcdserverpb.Auth/Authenticate"

// callerKey is the context key of a client call's caller.
type callerKey struct{}

// caller is who made a client call: the identity of its token, and the
// token; or the identity of its client certificate (certified; see
// auth_certificate.go); zero for nobody (or any call while auth is
// disabled).
type caller struct {
	identity  kv.Identity
	token     string
	certified bool
}

// callerFrom returns the caller the interceptors put in ctx; false for a
// context that is not a client call's (the server's own work: lease
// expiry, publishing attributes).
func callerFrom(ctx context.Context) (caller, bool) {
	found, ok := ctx.Value(callerKey{}).(caller)
	return found, ok
}

// requestHeader returns the header propose puts on a client's request:
// its caller's identity, checked by every member when it applies the
// entry. nil for the server's own requests (see kv's authorize).
func requestHeader(ctx context.Context) *pb.RequestHeader {
	found, ok := callerFrom(ctx)
	if !ok {
		return nil
	}
	return &pb.RequestHeader{Username: found.identity.User, AuthRevision: found.identity.Revision}
}

// resolveCaller finds who makes a call, as etcd's AuthInfoFromCtx does
// with auth enabled: a token comes first, and one this member does not
// accept (forged, expired, from another cluster; a simple token issued
// before a restart; an empty one) is refused with
// ErrGRPCInvalidAuthToken; without a token, a follower's forwarded
// identity, believed only from a member (forwardedCaller); else, with
// --client-cert-auth, the verified client certificate's Common Name, at
// the current auth revision (never old), whatever users exist (an
// unknown one is refused by the permission checks); else nobody, whom
// the permission checks refuse with ErrGRPCUserEmpty. With auth
// disabled, none of this is looked at.
func (s *Server) resolveCaller(ctx context.Context, method string) (caller, error) {
	enabled, revision := s.store.AuthEnabled()
	if !enabled || method == authenticateMethod {
		return caller{}, nil
	}
	if token, ok := incomingToken(ctx); ok {
		identity, ok := s.store.TokenIdentity(token)
		if !ok {
			return caller{}, rpctypes.ErrGRPCInvalidAuthToken
		}
		return caller{identity: identity, token: token}, nil
	}
	if users := metadata.ValueFromIncomingContext(ctx, forwardedUserKey); len(users) > 0 {
		return s.forwardedCaller(ctx, users[0], revision)
	}
	if user, ok := s.certificateUser(ctx); ok {
		return caller{identity: kv.Identity{User: user, Revision: revision}, certified: true}, nil
	}
	return caller{}, nil
}

// identityNow returns the identity of a call's caller as etcd finds it
// after a read barrier, where etcd resolves the token of a Range or a
// new watch: a simple token's or a certificate's identity at the current
// auth revision; a JWT verified again (ErrGRPCInvalidAuthToken if it
// expired since the call began) with the revision it was issued at, so a
// change of the auth store since makes it old (ErrGRPCAuthOldRevision),
// as in etcd. Nobody stays nobody.
func (s *Server) identityNow(ctx context.Context) (kv.Identity, error) {
	found, _ := callerFrom(ctx)
	if found.identity.Nobody() {
		return kv.Identity{}, nil
	}
	if found.token == "" || !s.store.Tokens().SelfContained() {
		identity := found.identity
		_, identity.Revision = s.store.AuthEnabled()
		return identity, nil
	}
	identity, ok := s.store.TokenIdentity(found.token)
	if !ok {
		return kv.Identity{}, rpctypes.ErrGRPCInvalidAuthToken
	}
	return identity, nil
}

// authUnaryInterceptor resolves the caller of every etcd API call, puts
// it in the call's context for propose, and makes the checks etcd makes
// before a request reaches the log (authorizeCall).
func (s *Server) authUnaryInterceptor(ctx context.Context, request any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !strings.HasPrefix(info.FullMethod, etcdMethodPrefix) {
		return handler(ctx, request)
	}
	found, err := s.resolveCaller(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if !checkedLater(request) {
		if enabled, _ := s.store.AuthEnabled(); enabled && found.identity.Nobody() && info.FullMethod != authenticateMethod {
			// As etcd 3.7: with auth enabled, every unary call but
			// Authenticate needs a token or a client certificate, even
			// those any user may make (Status, MemberList, listing
			// alarms), whose user need not exist.
			return nil, rpctypes.ErrGRPCUserEmpty
		}
		if err := s.authorizeCall(found.identity, request); err != nil {
			return nil, err
		}
	}
	return handler(context.WithValue(ctx, callerKey{}, found), request)
}

// checkedLater reports whether a request is checked after this point,
// against the auth store it is served with: the requests that go through
// the log are checked when applied (kv's authorize: writes, leases,
// compaction, alarm changes, auth administration), a Range after its read
// barrier (authorizeRange). Checking them here too would use this
// member's view of the auth store, which may lag behind the log (a
// follower that has not applied an AuthDisable yet would refuse a write
// the cluster allows).
func checkedLater(request any) bool {
	switch request := request.(type) {
	case *pb.RangeRequest, *pb.PutRequest, *pb.DeleteRangeRequest, *pb.TxnRequest, *pb.CompactionRequest,
		*pb.LeaseGrantRequest, *pb.LeaseRevokeRequest,
		*pb.AuthEnableRequest, *pb.AuthDisableRequest, *pb.AuthStatusRequest,
		*pb.AuthUserAddRequest, *pb.AuthUserGetRequest, *pb.AuthUserListRequest, *pb.AuthUserDeleteRequest,
		*pb.AuthUserChangePasswordRequest, *pb.AuthUserGrantRoleRequest, *pb.AuthUserRevokeRoleRequest,
		*pb.AuthRoleAddRequest, *pb.AuthRoleGetRequest, *pb.AuthRoleListRequest, *pb.AuthRoleDeleteRequest,
		*pb.AuthRoleGrantPermissionRequest, *pb.AuthRoleRevokePermissionRequest:
		return true
	case *pb.AlarmRequest:
		return request.Action != pb.AlarmRequest_GET
	}
	return false
}

// serverContext returns ctx without its caller and the client's token:
// for a request the server makes on its own account while serving a
// client (raising the NOSPACE alarm), which no member checks.
func serverContext(ctx context.Context) context.Context {
	incoming, _ := metadata.FromIncomingContext(ctx)
	kept := metadata.MD{}
	if forwarded := incoming.Get(forwardedKey); len(forwarded) > 0 {
		kept.Set(forwardedKey, forwarded...)
	}
	return metadata.NewIncomingContext(context.WithValue(ctx, callerKey{}, nil), kept)
}

// authStreamInterceptor does for streams what authUnaryInterceptor does
// for unary calls: Snapshot is root's; every request received is checked
// (callerStream); Watch checks each watch it creates (authorizeWatch).
func (s *Server) authStreamInterceptor(service any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !strings.HasPrefix(info.FullMethod, etcdMethodPrefix) {
		return handler(service, stream)
	}
	found, err := s.resolveCaller(stream.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if info.FullMethod == "/etcdserverpb.Maintenance/Snapshot" {
		if err := s.store.AuthorizeAdmin(found.identity); err != nil {
			return err
		}
	}
	return handler(service, &callerStream{ServerStream: stream, ctx: context.WithValue(stream.Context(), callerKey{}, found), server: s, caller: found})
}

// callerStream is a stream whose context carries its caller, and whose
// every received request is checked as a unary call's (authorizeCall):
// RangeStream's RangeRequest needs read access like Range's.
type callerStream struct {
	grpc.ServerStream
	ctx    context.Context
	server *Server
	caller caller
}

func (c *callerStream) Context() context.Context { return c.ctx }

func (c *callerStream) RecvMsg(message any) error {
	if err := c.ServerStream.RecvMsg(message); err != nil {
		return err
	}
	return c.server.authorizeCall(c.caller.identity, message)
}

// authorizeCall makes the checks of a call that are not made when its
// entry is applied, as etcd makes them, when auth is enabled (a Range's
// is made after its read barrier: authorizeRange): a LeaseTimeToLive
// that lists the lease's keys needs read access to them; cluster
// membership and maintenance need the root role (compaction and alarm
// changes too, checked when applied). Writes, leases and auth administration are checked when
// applied (kv's authorize), where the identity travels in the request
// header.
func (s *Server) authorizeCall(identity kv.Identity, request any) error {
	switch request := request.(type) {
	case *pb.LeaseTimeToLiveRequest:
		if request.Keys {
			return s.store.AuthorizeLeaseRead(identity, request.ID)
		}
	case *pb.MemberAddRequest, *pb.MemberRemoveRequest, *pb.MemberUpdateRequest, *pb.MemberPromoteRequest,
		*pb.DefragmentRequest, *pb.HashRequest, *pb.HashKVRequest, *pb.MoveLeaderRequest, *pb.DowngradeRequest:
		return s.store.AuthorizeAdmin(identity)
	}
	return nil
}

// authorizeRange checks that the caller of a Range or RangeStream may
// read its range. The services call it after the read barrier of a
// linearizable read, as etcd does, so the check sees every auth change
// committed before the read (a follower that has not yet applied an
// AuthEnable would otherwise answer a read that the cluster refuses).
// The identity is the one of now (identityNow).
func (s *Server) authorizeRange(ctx context.Context, request *pb.RangeRequest) error {
	identity, err := s.identityNow(ctx)
	if err != nil {
		return err
	}
	header := &pb.RequestHeader{Username: identity.User, AuthRevision: identity.Revision}
	return s.store.Authorize(&pb.InternalRaftRequest{Header: header, Range: request})
}

// authorizeWatch checks that the caller of a watch stream may read what
// a watch it creates covers, with the identity of now (identityNow): with
// simple tokens, a stream opened before a permission change creates
// watches under the new permissions, not refused as old; with JWTs, as
// etcd, a watch created after the token expired or the auth store
// changed is refused.
func (s *Server) authorizeWatch(ctx context.Context, request *pb.WatchCreateRequest) error {
	identity, err := s.identityNow(ctx)
	if err != nil {
		return err
	}
	return s.store.AuthorizeRead(identity, request.Key, request.RangeEnd)
}

// forwardToken copies the client's token to a call forwarded to the
// leader, which resolves the caller itself: every member knows every
// simple token (kv assigns them when it applies Authenticate) and
// verifies every JWT (with the public key).
func forwardToken(incoming, outgoing context.Context) context.Context {
	token, ok := incomingToken(incoming)
	if !ok {
		return outgoing
	}
	return metadata.AppendToOutgoingContext(outgoing, tokenMetadataKey, token)
}
