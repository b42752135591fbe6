package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// floorCommand is the hidden subcommand that runs the protocol floor:
// `compare floor-server --listen 127.0.0.1:PORT`. The comparison starts it
// as a child process, as it starts etcd's and lockstep's members, so that
// it runs (and is measured) in a process of its own.
const floorCommand = "floor-server"

// floorKV, floorWatch, floorMaintenance and floorCluster are the etcd
// services the floor offers, all backed by one floorStore. Whatever else
// is asked is answered Unimplemented.
type (
	floorKV struct {
		pb.UnimplementedKVServer
		store *floorStore
	}
	floorWatch struct {
		pb.UnimplementedWatchServer
		store *floorStore
	}
	floorMaintenance struct {
		pb.UnimplementedMaintenanceServer
		store *floorStore
	}
	floorCluster struct {
		pb.UnimplementedClusterServer
		store     *floorStore
		clientURL string
	}
)

func (k floorKV) Range(_ context.Context, request *pb.RangeRequest) (*pb.RangeResponse, error) {
	return k.store.Range(request)
}

func (k floorKV) Put(_ context.Context, request *pb.PutRequest) (*pb.PutResponse, error) {
	return k.store.Put(request)
}

func (k floorKV) DeleteRange(_ context.Context, request *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return k.store.DeleteRange(request)
}

func (k floorKV) Txn(_ context.Context, request *pb.TxnRequest) (*pb.TxnResponse, error) {
	return k.store.Txn(request)
}

func (w floorWatch) Watch(server pb.Watch_WatchServer) error { return w.store.Watch(server) }

func (m floorMaintenance) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	return m.store.Status(), nil
}

func (c floorCluster) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	status := c.store.Status()
	return &pb.MemberListResponse{Header: status.Header, Members: []*pb.Member{{
		ID: floorMemberID, Name: "floor", ClientURLs: []string{c.clientURL},
	}}}, nil
}

// newFloorServer returns a gRPC server with the floor's services on a
// fresh store; clientURL is what MemberList advertises.
func newFloorServer(clientURL string) *grpc.Server {
	store := newFloorStore()
	server := grpc.NewServer()
	pb.RegisterKVServer(server, floorKV{store: store})
	pb.RegisterWatchServer(server, floorWatch{store: store})
	pb.RegisterMaintenanceServer(server, floorMaintenance{store: store})
	pb.RegisterClusterServer(server, floorCluster{store: store, clientURL: clientURL})
	return server
}

// floorMain runs the floor-server subcommand until SIGTERM or SIGINT and
// returns the exit code.
func floorMain(arguments []string, log io.Writer) int {
	flags := flag.NewFlagSet("compare "+floorCommand, flag.ContinueOnError)
	flags.SetOutput(log)
	listen := flags.String("listen", "", "address to serve on: host:port or http://host:port")
	if err := flags.Parse(arguments); err != nil {
		return 2
	}
	if *listen == "" || flags.NArg() > 0 {
		fmt.Fprintf(log, "compare %s: give --listen host:port and nothing else\n", floorCommand)
		return 2
	}
	address := strings.TrimPrefix(*listen, "http://")
	listener, err := net.Listen("tcp", address)
	if err != nil {
		fmt.Fprintf(log, "compare %s: %v\n", floorCommand, err)
		return 1
	}
	server := newFloorServer("http://" + listener.Addr().String())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-signals
		server.Stop()
	}()
	fmt.Fprintf(log, "compare %s: serving etcd's KV, Watch, Maintenance.Status and Cluster.MemberList on %s (no consensus, storage or replication)\n",
		floorCommand, listener.Addr())
	if err := server.Serve(listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		fmt.Fprintf(log, "compare %s: %v\n", floorCommand, err)
		return 1
	}
	return 0
}
