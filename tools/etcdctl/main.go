// Command etcdctl is etcd v3.7.3's command-line client, built from the Go
// module proxy (`go install` refuses it because its go.mod has replace
// directives). It adds nothing: main hands over to ctlv3.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
