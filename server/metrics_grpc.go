package server

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcMetrics are the client port's gRPC metrics under the names etcd
// exposes (go-grpc-prometheus's server metrics, which etcd registers and
// which etcd's alerts, such as etcdHighNumberOfFailedGRPCRequests, read):
// grpc_server_started_total, grpc_server_handled_total (by status code),
// grpc_server_msg_received_total and grpc_server_msg_sent_total, each
// labelled grpc_type (unary, client_stream, server_stream, bidi_stream),
// grpc_service and grpc_method.
type grpcMetrics struct {
	started, handled, received, sent *prometheus.CounterVec
	// methods holds each registered method's counters, made with every
	// status code at zero by prepare, as go-grpc-prometheus does, so that
	// rates exist before the first call. Written before the server
	// serves, read only after.
	methods map[string]*grpcMethodCounters
}

// grpcMethodCounters are one method's counters, looked up once.
type grpcMethodCounters struct {
	started, received, sent prometheus.Counter
	handled                 [codeCount]prometheus.Counter
}

// codeCount is the number of gRPC status codes, OK (0) to Unauthenticated
// (16).
const codeCount = int(codes.Unauthenticated) + 1

func newGRPCMetrics() *grpcMetrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	return &grpcMetrics{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_started_total",
			Help: "Total number of RPCs started on the server."}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total",
			Help: "Total number of RPCs completed on the server, regardless of success or failure."}, append(labels, "grpc_code")),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_msg_received_total",
			Help: "Total number of RPC stream messages received on the server."}, labels),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_msg_sent_total",
			Help: "Total number of gRPC stream messages sent by the server."}, labels),
		methods: map[string]*grpcMethodCounters{},
	}
}

// collectors returns the metrics to register.
func (g *grpcMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.started, g.handled, g.received, g.sent}
}

// prepare makes the counters of every method server has registered. Call
// it after the last registration and before Serve.
func (g *grpcMetrics) prepare(server *grpc.Server) {
	for service, info := range server.GetServiceInfo() {
		for _, method := range info.Methods {
			g.methods["/"+service+"/"+method.Name] = g.countersFor(service, method.Name, streamType(method.IsClientStream, method.IsServerStream))
		}
	}
}

// countersFor makes one method's counters.
func (g *grpcMetrics) countersFor(service, method, kind string) *grpcMethodCounters {
	counters := &grpcMethodCounters{
		started:  g.started.WithLabelValues(kind, service, method),
		received: g.received.WithLabelValues(kind, service, method),
		sent:     g.sent.WithLabelValues(kind, service, method),
	}
	for code := range counters.handled {
		counters.handled[code] = g.handled.WithLabelValues(kind, service, method, codes.Code(code).String())
	}
	return counters
}

// counters returns the counters of fullMethod ("/service/method"); a
// method prepare did not see gets its own now (not kept: none is expected).
func (g *grpcMetrics) counters(fullMethod, kind string) *grpcMethodCounters {
	if counters, ok := g.methods[fullMethod]; ok {
		return counters
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	return g.countersFor(service, method, kind)
}

// streamType is go-grpc-prometheus's grpc_type of a method.
func streamType(clientStream, serverStream bool) string {
	switch {
	case clientStream && serverStream:
		return "bidi_stream"
	case clientStream:
		return "client_stream"
	case serverStream:
		return "server_stream"
	}
	return "unary"
}

// handledCode is the counter of err's status code.
func (c *grpcMethodCounters) handledCode(err error) prometheus.Counter {
	code := int(status.Code(err))
	if code < 0 || code >= codeCount {
		code = int(codes.Unknown)
	}
	return c.handled[code]
}

// unaryInterceptor counts a unary call: started, one message received, one
// sent if it succeeded, and handled with its code.
func (g *grpcMetrics) unaryInterceptor(ctx context.Context, request any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	counters := g.counters(info.FullMethod, "unary")
	counters.started.Inc()
	counters.received.Inc()
	response, err := handler(ctx, request)
	if err == nil {
		counters.sent.Inc()
	}
	counters.handledCode(err).Inc()
	return response, err
}

// streamInterceptor counts a stream: started, each message received and
// sent, and handled with its code when the handler returns.
func (g *grpcMetrics) streamInterceptor(service any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	counters := g.counters(info.FullMethod, streamType(info.IsClientStream, info.IsServerStream))
	counters.started.Inc()
	err := handler(service, &countedStream{ServerStream: stream, counters: counters})
	counters.handledCode(err).Inc()
	return err
}

// countedStream counts the messages a stream's handler receives and sends.
type countedStream struct {
	grpc.ServerStream
	counters *grpcMethodCounters
}

func (s *countedStream) RecvMsg(message any) error {
	err := s.ServerStream.RecvMsg(message)
	if err == nil {
		s.counters.received.Inc()
	}
	return err
}

func (s *countedStream) SendMsg(message any) error {
	err := s.ServerStream.SendMsg(message)
	if err == nil {
		s.counters.sent.Inc()
	}
	return err
}
