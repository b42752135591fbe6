package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// restrictPeers returns a copy of the peer TLS configuration whose server
// side also checks who a connecting peer is, as etcd's
// --peer-cert-allowed-cn and --peer-cert-allowed-hostname do: its
// verified certificate must have the Common Name allowedCN, or be valid
// for allowedHostname (one of the two is set). A peer that does not
// match fails the handshake, and the refusal is logged with its address,
// its certificate's names and why. Only connections this member accepts
// are checked (GetConfigForClient is called on the server side alone):
// the members it dials are those of its own configuration.
func restrictPeers(base *tls.Config, allowedCN, allowedHostname string, log *slog.Logger) *tls.Config {
	restricted := base.Clone()
	serverSide := base.Clone()
	restricted.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		remote := "unknown"
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr().String()
		}
		config := serverSide.Clone()
		config.VerifyConnection = func(state tls.ConnectionState) error {
			err := checkPeerCertificate(state, allowedCN, allowedHostname)
			if err != nil {
				log.Warn("refusing a peer connection", "remote", remote, "reason", err.Error())
			}
			return err
		}
		return config, nil
	}
	return restricted
}

// checkPeerCertificate says why a peer's verified certificate is not the
// allowed one, or nil.
func checkPeerCertificate(state tls.ConnectionState, allowedCN, allowedHostname string) error {
	if len(state.PeerCertificates) == 0 {
		return errors.New("the peer presented no certificate (--peer-cert-allowed-cn and --peer-cert-allowed-hostname need --peer-client-cert-auth)")
	}
	certificate := state.PeerCertificates[0]
	if allowedCN != "" && certificate.Subject.CommonName != allowedCN {
		return fmt.Errorf("certificate Common Name %q is not the allowed %q (--peer-cert-allowed-cn)", certificate.Subject.CommonName, allowedCN)
	}
	if allowedHostname != "" {
		if err := certificate.VerifyHostname(allowedHostname); err != nil {
			var names []string
			names = append(names, certificate.DNSNames...)
			for _, address := range certificate.IPAddresses {
				names = append(names, address.String())
			}
			return fmt.Errorf("certificate is not valid for the allowed host name %q (--peer-cert-allowed-hostname); it names %s", allowedHostname, strings.Join(names, ", "))
		}
	}
	return nil
}

// peerTLS is the peer transport's TLS configuration: the configured one,
// restricted to the allowed peer identity if one is set.
func (s *Server) peerTLS() *tls.Config {
	if s.config.PeerTLS == nil || (s.config.PeerCertAllowedCN == "" && s.config.PeerCertAllowedHostname == "") {
		return s.config.PeerTLS
	}
	return restrictPeers(s.config.PeerTLS, s.config.PeerCertAllowedCN, s.config.PeerCertAllowedHostname, s.log)
}
