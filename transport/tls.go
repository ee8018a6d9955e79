package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// tlsConfigs loads the certificate and builds the listener's and the
// client's TLS settings: TLS 1.2 or newer both ways; the client verifies
// peers against the system roots plus CAFile.
func tlsConfigs(o TLSOptions) (server, client *tls.Config, err error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, nil, errors.New("sip tls: a certificate and key are required (sip.tls_cert_file, sip.tls_key_file)")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("sip tls certificate %s, key %s: %w", o.CertFile, o.KeyFile, err)
	}
	if o.Domain != "" && cert.Leaf != nil {
		if err := cert.Leaf.VerifyHostname(o.Domain); err != nil {
			return nil, nil, fmt.Errorf("sip tls certificate %s does not cover sip.tls_domain: %w", o.CertFile, err)
		}
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("sip tls ca file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("sip tls ca file %s: no PEM certificates in it", o.CAFile)
		}
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	// The certificate goes to servers that ask for a client certificate.
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
