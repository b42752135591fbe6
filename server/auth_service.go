package server

import (
	"context"
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/peer"

	"github.com/lockstepdb/lockstep/kv"
)

// authService implements etcd's Auth service. Every call goes through the
// log, as in etcd, so it is ordered with the writes it governs: the store
// applies it (kv/auth_apply.go) after checking that the caller, whose
// identity travels in the request header, may make it. The one exception
// is Authenticate with JWTs, which changes nothing to order
// (authenticateSelfContained). Passwords are
// hashed here, on the member that receives them, before anything is
// proposed: neither the log nor the store ever holds one in clear.
type authService struct {
	pb.UnimplementedAuthServer
	server *Server
}

// validateAuth checks the auth flags.
func (c Config) validateAuth() error {
	if c.BcryptCost != 0 && (c.BcryptCost < bcrypt.MinCost || c.BcryptCost > bcrypt.MaxCost) {
		return fmt.Errorf("--bcrypt-cost must be between %d and %d, got %d", bcrypt.MinCost, bcrypt.MaxCost, c.BcryptCost)
	}
	if c.AuthTokenTTL < 0 {
		return fmt.Errorf("--auth-token-ttl must not be negative, got %v", c.AuthTokenTTL)
	}
	_, err := c.authTokens()
	return err
}

// authTokens returns the kind of auth token configured, as kv takes it
// (nil: simple tokens).
func (c Config) authTokens() (kv.TokenProvider, error) {
	if c.AuthToken == "" {
		return nil, nil
	}
	tokens, err := kv.ParseAuthToken(c.AuthToken)
	if err != nil {
		return nil, fmt.Errorf("--auth-token: %w", err)
	}
	return tokens, nil
}

// hashPassword returns the bcrypt hash of password at the configured cost.
func (s *Server) hashPassword(password string) (string, error) {
	cost := s.config.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		// Only a password longer than bcrypt's 72 bytes fails.
		return "", rpctypes.ErrGRPCInvalidAuthMgmt
	}
	return string(hash), nil
}

// proposeAuth proposes an auth request, or forwards the client's call.
func proposeAuth[Response interface{ GetHeader() *pb.ResponseHeader }](
	a *authService, ctx context.Context, request *pb.InternalRaftRequest,
	forward func(ctx context.Context, auth pb.AuthClient) (Response, error),
) (Response, error) {
	return proposeOrForward(a.server, ctx, request, func(ctx context.Context, leader *leaderClients) (Response, error) {
		return forward(ctx, leader.auth)
	})
}

func (a *authService) AuthEnable(ctx context.Context, request *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthEnable: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthEnableResponse, error) {
			return auth.AuthEnable(ctx, request)
		})
}

func (a *authService) AuthDisable(ctx context.Context, request *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthDisable: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthDisableResponse, error) {
			return auth.AuthDisable(ctx, request)
		})
}

func (a *authService) AuthStatus(ctx context.Context, request *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthStatus: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthStatusResponse, error) {
			return auth.AuthStatus(ctx, request)
		})
}

// Authenticate checks the password against this member's store, after a
// read barrier, then issues a token. A simple token, fresh and random, is
// proposed, and every member records it when it applies it; as etcd, the
// password is checked again if the auth store changed between the check
// and the assignment (the password may have changed). A JWT is signed
// here (authenticateSelfContained). A failure is logged with the client's
// address, never with the password.
func (a *authService) Authenticate(ctx context.Context, request *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	s := a.server
	tokens := s.store.Tokens()
	if tokens.SelfContained() {
		return a.authenticateSelfContained(ctx, request)
	}
	for {
		// The password is checked against every change committed before
		// the call: a member that has not applied a password change or a
		// user's deletion yet must not accept the old password.
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
		checked, err := a.checkPassword(ctx, request)
		if err != nil {
			return nil, err
		}
		token, err := tokens.Issue(request.Name, checked)
		if err != nil {
			return nil, err
		}
		forwarded := false
		response, err := proposeAuth(a, ctx, &pb.InternalRaftRequest{Authenticate: &pb.InternalAuthenticateRequest{Name: request.Name, SimpleToken: token}},
			func(ctx context.Context, auth pb.AuthClient) (*pb.AuthenticateResponse, error) {
				forwarded = true
				return auth.Authenticate(ctx, request)
			})
		if err != nil {
			return nil, err
		}
		if forwarded {
			// The leader issued the token: wait until this member has
			// applied it too, so the client's next call here knows it.
			if err := s.readBarrier(ctx); err != nil {
				return nil, err
			}
			return response, nil
		}
		// The token was assigned at the auth revision of its entry, at
		// most the current one: if that is still the one the password
		// was checked at, so is the token's.
		if _, current := s.store.AuthEnabled(); current == checked {
			return response, nil
		}
		// The auth store changed in between: the token is never handed
		// out; check the password again against the new state.
		select {
		case <-ctx.Done():
			return nil, rpctypes.ErrGRPCCanceled
		default:
		}
	}
}

// checkPassword checks the password of an Authenticate call against
// this member's store and returns the auth revision it checked at; a
// wrong password is logged with the client's address.
func (a *authService) checkPassword(ctx context.Context, request *pb.AuthenticateRequest) (uint64, error) {
	checked, err := a.server.store.CheckPassword(request.Name, request.Password)
	if errors.Is(err, rpctypes.ErrGRPCAuthFailed) {
		a.server.log.Warn("authentication failed", "user", request.Name, "remote", remoteAddress(ctx))
	}
	return checked, err
}

// authenticateSelfContained issues a JWT: after a read barrier (so the
// password is checked against every change committed before the call),
// this member signs a token for the auth revision it checked the
// password at. No entry goes through the log, unlike etcd's: a JWT needs
// no member to record it, and the revision it carries orders it against
// the auth store's changes, since any later one makes it old
// (ErrGRPCAuthOldRevision, and clientv3 authenticates again). A member
// without the private key answers ErrJWTVerifyOnly, as etcd's does.
func (a *authService) authenticateSelfContained(ctx context.Context, request *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	s := a.server
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	checked, err := a.checkPassword(ctx, request)
	if err != nil {
		return nil, err
	}
	token, err := s.store.Tokens().Issue(request.Name, checked)
	if err != nil {
		return nil, err
	}
	revision, _ := s.store.Revision()
	return &pb.AuthenticateResponse{Header: s.header(revision), Token: token}, nil
}

// remoteAddress returns the address a call came from, for logs.
func remoteAddress(ctx context.Context) string {
	if from, ok := peer.FromContext(ctx); ok && from.Addr != nil {
		return from.Addr.String()
	}
	return "unknown"
}

// UserAdd hashes the password (unless the user has none) and proposes
// the user with the hash only.
func (a *authService) UserAdd(ctx context.Context, request *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	internal := &pb.AuthUserAddRequest{Name: request.Name, Options: request.Options}
	if request.Name != "" && !request.Options.GetNoPassword() {
		hash, err := a.server.hashPassword(request.Password)
		if err != nil {
			return nil, err
		}
		internal.HashedPassword = hash
	}
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserAdd: internal},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserAddResponse, error) {
			return auth.UserAdd(ctx, request)
		})
}

func (a *authService) UserGet(ctx context.Context, request *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserGet: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserGetResponse, error) {
			return auth.UserGet(ctx, request)
		})
}

func (a *authService) UserList(ctx context.Context, request *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserList: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserListResponse, error) {
			return auth.UserList(ctx, request)
		})
}

func (a *authService) UserDelete(ctx context.Context, request *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserDelete: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserDeleteResponse, error) {
			return auth.UserDelete(ctx, request)
		})
}

// UserChangePassword hashes the new password and proposes the hash only.
func (a *authService) UserChangePassword(ctx context.Context, request *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	hash, err := a.server.hashPassword(request.Password)
	if err != nil {
		return nil, err
	}
	internal := &pb.AuthUserChangePasswordRequest{Name: request.Name, HashedPassword: hash}
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserChangePassword: internal},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserChangePasswordResponse, error) {
			return auth.UserChangePassword(ctx, request)
		})
}

func (a *authService) UserGrantRole(ctx context.Context, request *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserGrantRole: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserGrantRoleResponse, error) {
			return auth.UserGrantRole(ctx, request)
		})
}

func (a *authService) UserRevokeRole(ctx context.Context, request *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthUserRevokeRole: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthUserRevokeRoleResponse, error) {
			return auth.UserRevokeRole(ctx, request)
		})
}

func (a *authService) RoleAdd(ctx context.Context, request *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleAdd: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleAddResponse, error) {
			return auth.RoleAdd(ctx, request)
		})
}

func (a *authService) RoleGet(ctx context.Context, request *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleGet: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleGetResponse, error) {
			return auth.RoleGet(ctx, request)
		})
}

func (a *authService) RoleList(ctx context.Context, request *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleList: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleListResponse, error) {
			return auth.RoleList(ctx, request)
		})
}

func (a *authService) RoleDelete(ctx context.Context, request *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleDelete: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleDeleteResponse, error) {
			return auth.RoleDelete(ctx, request)
		})
}

func (a *authService) RoleGrantPermission(ctx context.Context, request *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleGrantPermission: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleGrantPermissionResponse, error) {
			return auth.RoleGrantPermission(ctx, request)
		})
}

func (a *authService) RoleRevokePermission(ctx context.Context, request *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	return proposeAuth(a, ctx, &pb.InternalRaftRequest{AuthRoleRevokePermission: request},
		func(ctx context.Context, auth pb.AuthClient) (*pb.AuthRoleRevokePermissionResponse, error) {
			return auth.RoleRevokePermission(ctx, request)
		})
}
