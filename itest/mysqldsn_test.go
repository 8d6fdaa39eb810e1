package itest

import "testing"

func TestParseMySQLDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want MySQLDSN
		err  bool
	}{
		{"u:p@tcp(127.0.0.1:3306)/db", MySQLDSN{"u", "p", "127.0.0.1", 3306, "db"}, false},
		{"u@tcp(h:1)/", MySQLDSN{"u", "", "h", 1, ""}, false},
		{"u:p@tcp(h:1)/db?parseTime=true", MySQLDSN{"u", "p", "h", 1, "db"}, false},
		{"u:p@unix(/sock)/db", MySQLDSN{}, true},
		{"u:p@tcp(h)/db", MySQLDSN{}, true},
		{"u:p@tcp(h:99999)/db", MySQLDSN{}, true},
	}
	for _, tc := range tests {
		got, err := ParseMySQLDSN(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseMySQLDSN(%q) = %+v, %v; want %+v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
