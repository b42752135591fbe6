package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

// The JSON gateway: etcd's HTTP/JSON mapping of its gRPC API (POST
// /v3/kv/put, /v3/kv/range, /v3/watch, ...; keys and values in base64),
// served on the client port as etcd serves it. etcd's generated handlers
// (go.etcd.io/etcd/api/v3/etcdserverpb/gw) call the API through a gRPC
// connection; this one is made inside the process, to the same gRPC
// server, so every call goes through the same interceptors (metrics,
// removal, authentication) as a gRPC client's. The connection carries no
// certificate: through the gateway a caller is known by its token alone,
// sent in the Authorization header, as etcd's gateway takes it.

// gateway is the JSON gateway's handler and the in-process connection
// behind it.
type gateway struct {
	handler  http.Handler
	conn     *grpc.ClientConn
	listener *inProcessListener
}

// newGateway starts serving the gRPC server on an in-process listener (a
// goroutine in group) and builds the gateway over a connection to it.
func newGateway(grpcServer *grpc.Server, group *sync.WaitGroup) (*gateway, error) {
	listener := newInProcessListener()
	group.Go(func() { _ = grpcServer.Serve(listener) })
	conn, err := grpc.NewClient("passthrough:///lockstep-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return listener.dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxSendBytes)))
	if err != nil {
		listener.Close()
		return nil, err
	}
	mux := runtime.NewServeMux(
		// etcd's output: field names as in the .proto files (snake_case),
		// unset fields left out; unknown input fields ignored.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
		}}),
		// Only the Authorization header becomes metadata (the gateway
		// passes it on itself, as "authorization", the token). No other
		// header may set metadata: the server's own keys, such as a
		// forwarded identity, are not a client's to send.
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
	)
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler, gw.RegisterAuthHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			conn.Close()
			listener.Close()
			return nil, err
		}
	}
	return &gateway{handler: mux, conn: conn, listener: listener}, nil
}

// close ends the gateway's connection and its listener; the gRPC server
// ends the calls still on it when it stops.
func (g *gateway) close() {
	g.conn.Close()
	g.listener.Close()
}

// inProcessConn is the server's end of an in-process connection
// (handshakenCredentials recognize it).
type inProcessConn struct{ net.Conn }

// inProcessListener is a net.Listener whose connections are made by dial,
// in this process, as pipes: nothing outside the process can reach it.
type inProcessListener struct {
	connections chan net.Conn
	closed      chan struct{}
	closeOnce   sync.Once
}

func newInProcessListener() *inProcessListener {
	return &inProcessListener{connections: make(chan net.Conn), closed: make(chan struct{})}
}

// dial makes a connection to the listener and returns the client's end.
func (l *inProcessListener) dial(ctx context.Context) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.connections <- &inProcessConn{server}:
		return client, nil
	case <-l.closed:
	case <-ctx.Done():
	}
	server.Close()
	client.Close()
	return nil, errors.New("server: the gateway's in-process listener is closed")
}

func (l *inProcessListener) Accept() (net.Conn, error) {
	select {
	case conn := <-l.connections:
		return conn, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *inProcessListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *inProcessListener) Addr() net.Addr { return inProcessAddress{} }

// inProcessAddress is the address of the in-process listener.
type inProcessAddress struct{}

func (inProcessAddress) Network() string { return "pipe" }
func (inProcessAddress) String() string  { return "in-process" }
