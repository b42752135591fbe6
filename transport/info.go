package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// The Info method answers, on the peer port, a description the embedding
// application publishes about its cluster (Config.Info). A node that joins
// an existing cluster with nothing but its peers' addresses uses it to
// learn its own member ID and the cluster ID before it can take part.
const (
	infoMethodName = "Info"
	infoMethod     = "/" + serviceName + "/" + infoMethodName
	// maxInfoBytes bounds a published description.
	maxInfoBytes = 1 << 20
)

// ErrNoInfo is returned by FetchInfo when the peer publishes nothing.
var ErrNoInfo = errors.New("transport: peer publishes no info")

func (t *Transport) answerInfo() ([]byte, error) {
	if t.config.Info == nil {
		return nil, ErrNoInfo
	}
	info := t.config.Info()
	if len(info) > maxInfoBytes {
		return nil, fmt.Errorf("transport: info of %d bytes exceeds %d", len(info), maxInfoBytes)
	}
	return info, nil
}

func infoHandler(server any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var request []byte
	if err := decode(&request); err != nil {
		return nil, err
	}
	info, err := server.(*Transport).answerInfo()
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// FetchInfo asks the transport listening at address (host:port) for the
// description its application publishes through Config.Info. tlsConfig
// is nil for a plaintext peer port. It does not need a Transport of its
// own: a node calls it before it knows its ID.
func FetchInfo(ctx context.Context, address string, tlsConfig *tls.Config) ([]byte, error) {
	transportCredentials := insecure.NewCredentials()
	if tlsConfig != nil {
		transportCredentials = credentials.NewTLS(tlsConfig.Clone())
	}
	conn, err := grpc.NewClient("passthrough:///"+address, grpc.WithTransportCredentials(transportCredentials),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(maxInfoBytes+frameSlack)))
	if err != nil {
		return nil, fmt.Errorf("transport: info from %s: %w", address, err)
	}
	defer conn.Close()
	request, reply := []byte{}, []byte{}
	if err := conn.Invoke(ctx, infoMethod, &request, &reply); err != nil {
		return nil, fmt.Errorf("transport: info from %s: %w", address, err)
	}
	return reply, nil
}
