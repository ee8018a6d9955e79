package config

import (
	"crypto/tls"
	"fmt"
)

// ServerTLS loads http.tls_cert_file and http.tls_key_file into the HTTP
// front end's TLS settings, or returns nil when both are empty (plain HTTP).
// An unreadable file or a certificate that does not match its key is an
// error naming both settings.
func (h HTTP) ServerTLS() (*tls.Config, error) {
	return frontendTLS("http", h.TLSCertFile, h.TLSKeyFile)
}

// ServerTLS loads xml.tls_cert_file and xml.tls_key_file into the XML front
// end's TLS settings, or returns nil when both are empty (plain TCP).
func (x XML) ServerTLS() (*tls.Config, error) {
	return frontendTLS("xml", x.TLSCertFile, x.TLSKeyFile)
}

// frontendTLS is the one way a front end's certificate is loaded: TLS 1.2 or
// newer, as for SIP over TLS.
func frontendTLS(block, certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%s tls: %s.tls_cert_file and %s.tls_key_file must both be set", block, block, block)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s tls: %s.tls_cert_file %q, %s.tls_key_file %q: %w", block, block, certFile, block, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
