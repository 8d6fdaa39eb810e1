package cluster

import "testing"

func TestParseQuorum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []Voter
		wantErr bool
	}{
		{in: "1@127.0.0.1:9093", want: []Voter{{1, "127.0.0.1:9093"}}},
		{in: "1@a:1, 2@b:2,3@c:3", want: []Voter{{1, "a:1"}, {2, "b:2"}, {3, "c:3"}}},
		{in: "", wantErr: true},
		{in: "1@a:1,1@b:2", wantErr: true},
		{in: "0@a:1", wantErr: true},
		{in: "x@a:1", wantErr: true},
		{in: "1@a", wantErr: true},
		{in: "1a:1", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseQuorum(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseQuorum(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseQuorum(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseQuorum(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}
