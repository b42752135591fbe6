package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// ProcessIdentifier returns an Identifier that finds which of our member
// processes opened a connection, so a proxy can tell peers apart although
// they all connect from 127.0.0.1. It looks the connection's source socket
// up in /proc/net/tcp (Linux) to get its inode, then finds the process in
// processes (pid → member name, for the members running now) holding a
// file descriptor on that socket. Where /proc is missing or the socket is
// not found it returns UnknownSource, which proxies treat as fail-closed.
func ProcessIdentifier(processes func() map[int]string) Identifier {
	return func(remote, local net.Addr) string {
		inode, err := socketInode(remote, local)
		if err != nil {
			return UnknownSource
		}
		target := fmt.Sprintf("socket:[%s]", inode)
		for pid, name := range processes() {
			if processHoldsSocket(pid, target) {
				return name
			}
		}
		return UnknownSource
	}
}

// socketInode finds the inode of the socket whose local end is remote and
// whose peer is local: the connecting side of an accepted connection.
func socketInode(remote, local net.Addr) (string, error) {
	wantLocal, err := procAddress(remote)
	if err != nil {
		return "", err
	}
	wantRemote, err := procAddress(local)
	if err != nil {
		return "", err
	}
	file, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Scan() // the header line
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 9 && fields[1] == wantLocal && fields[2] == wantRemote {
			return fields[9], nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("proxy: no socket %s -> %s in /proc/net/tcp", remote, local)
}

// procAddress renders an IPv4 TCP address as /proc/net/tcp does: the
// address as a host-order hexadecimal word, then the port.
func procAddress(address net.Addr) (string, error) {
	tcp, ok := address.(*net.TCPAddr)
	if !ok {
		return "", fmt.Errorf("proxy: %v is not a TCP address", address)
	}
	ip := tcp.IP.To4()
	if ip == nil {
		return "", fmt.Errorf("proxy: %v is not IPv4", address)
	}
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip), tcp.Port), nil
}

// processHoldsSocket reports whether process pid has a descriptor whose
// link reads target ("socket:[inode]").
func processHoldsSocket(pid int, target string) bool {
	directory := filepath.Join("/proc", fmt.Sprint(pid), "fd")
	entries, err := os.ReadDir(directory)
	if err != nil {
		return false
	}
	for _, entry := range entries {
		link, err := os.Readlink(filepath.Join(directory, entry.Name()))
		if err == nil && link == target {
			return true
		}
	}
	return false
}
