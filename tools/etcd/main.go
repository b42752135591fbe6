// Command etcd is etcd v3.7.3's server, built from the Go module proxy so
// lockstep's benchmark, checker and differential tests can run the real
// thing next to lockstep. It adds nothing: main hands over to etcdmain.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
