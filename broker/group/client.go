package group

import "context"

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient returns a ctx carrying the request header's client id and the
// connection's remote host, which JoinGroup records for the member (member
// ids start with the client id; DescribeGroups reports both). The server
// wraps each request's ctx with it before calling Handle.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, clientHost})
}

func clientIDFrom(ctx context.Context) string {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci.id
}

func clientHostFrom(ctx context.Context) string {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci.host
}
