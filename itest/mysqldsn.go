package itest

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// MySQLDSN is a parsed `user:pass@tcp(host:port)/db` DSN, the form
// SLUICE_TEST_MYSQL_DSN and pipeline files use.
type MySQLDSN struct {
	User, Password string
	Host           string
	Port           uint16
	DB             string
}

// Addr is host:port.
func (d MySQLDSN) Addr() string { return net.JoinHostPort(d.Host, strconv.Itoa(int(d.Port))) }

var mysqlDSNRe = regexp.MustCompile(`^([^:@]*)(?::([^@]*))?@tcp\(([^)]+)\)/([^?]*)`)

// ParseMySQLDSN parses dsn in the go-sql-driver form `user:pass@tcp(host:port)/db`.
func ParseMySQLDSN(dsn string) (MySQLDSN, error) {
	m := mysqlDSNRe.FindStringSubmatch(dsn)
	if m == nil {
		return MySQLDSN{}, fmt.Errorf("mysql dsn: want user:pass@tcp(host:port)/db")
	}
	host, port, err := net.SplitHostPort(m[3])
	if err != nil {
		return MySQLDSN{}, fmt.Errorf("mysql dsn address %q: %w", m[3], err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return MySQLDSN{}, fmt.Errorf("mysql dsn port %q: %w", port, err)
	}
	return MySQLDSN{User: m[1], Password: m[2], Host: host, Port: uint16(p), DB: m[4]}, nil
}
