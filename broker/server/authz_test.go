package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAuthorizerDecisions(t *testing.T) {
	t.Parallel()
	allow := func(typ kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation) aclBinding {
		return aclBinding{ResourceType: typ, ResourceName: name, PatternType: pat, Principal: principal, Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow}
	}
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	deny := allow(resTopic, "orders-secret", lit, "User:alice", opRead)
	deny.Permission = kmsg.ACLPermissionTypeDeny
	a := &authorizer{enabled: true, superUsers: []string{"User:admin"}, acls: []aclBinding{
		allow(resTopic, "orders", lit, "User:alice", opWrite),
		allow(resTopic, "orders", pre, "User:alice", opRead),
		deny,
		allow(resTopic, "*", lit, "User:*", opDescribeConfigs),
		allow(resGroup, "g", lit, "User:alice", kmsg.ACLOperationAll),
		allow(resTopic, "pub", lit, "User:bob", opAlterConfigs),
	}}
	tests := []struct {
		principal string
		typ       kmsg.ACLResourceType
		name      string
		op        kmsg.ACLOperation
		want      bool
	}{
		{"User:alice", resTopic, "orders", opWrite, true},
		{"User:alice", resTopic, "orders", opDescribe, true}, // implied by WRITE/READ
		{"User:alice", resTopic, "orders-eu", opRead, true},  // prefixed
		{"User:alice", resTopic, "orders-eu", opWrite, false},
		{"User:alice", resTopic, "orders-secret", opRead, false}, // deny wins
		{"User:alice", resTopic, "other", opRead, false},         // default deny
		{"User:alice", resTopic, "other", opDescribeConfigs, true},
		{"User:bob", resTopic, "pub", opDescribeConfigs, true}, // implied by ALTER_CONFIGS
		{"User:bob", resTopic, "orders", opRead, false},
		{"User:alice", resGroup, "g", opRead, true}, // ALL
		{"User:alice", resGroup, "g2", opRead, false},
		{"User:admin", resCluster, clusterResourceName, opAlter, true}, // super user
		{"User:alice", resCluster, clusterResourceName, opCreate, false},
	}
	for _, tt := range tests {
		if got := a.authorize(tt.principal, "127.0.0.1", tt.typ, tt.name, tt.op); got != tt.want {
			t.Errorf("authorize(%s, %s %s, %s) = %v, want %v", tt.principal, tt.typ, tt.name, tt.op, got, tt.want)
		}
	}
	if !a.authorizeAny("User:alice", "h", resTopic, opWrite) || a.authorizeAny("User:carol", "h", resTopic, opWrite) {
		t.Error("authorizeAny")
	}
}

func aclOpts() []brokerOpt {
	return []brokerOpt{withBrokerConfig("authorizer.enable", "true"), withBrokerConfig("super.users", "User:admin"),
		withBrokerConfig("auto.create.topics.enable", "false")}
}

func TestACLsEndToEnd(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, nil, aclOpts()...)
	ctx := testCtx(t)
	adminCl := newClient(t, b.addr, saslOpt(MechScramSHA512, "admin", testPassword))
	adm := kadm.NewClient(adminCl)
	for _, topic := range []string{"orders", "orders-eu", "secret"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite, kadm.OpRead).
		ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := adm.CreateACLs(ctx, acls)
	if err != nil || res[0].Err != nil {
		t.Fatalf("CreateACLs: %v %+v", err, res)
	}
	grp := kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("g").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := adm.CreateACLs(ctx, grp); err != nil || res[0].Err != nil {
		t.Fatalf("CreateACLs group: %v %+v", err, res)
	}

	alice := newClient(t, b.addr, saslOpt(MechScramSHA256, "alice", testPassword),
		kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequestRetries(2), kgo.UnknownTopicRetries(0))
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("produce allowed: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce denied: %v", err)
	}
	fs := alice.PollFetches(ctx)
	if err := fs.Err(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("consume: %v, %d records", err, fs.NumRecords())
	}
	// Group checks run before the coordinator (none in this test broker).
	for group, want := range map[string]int16{"g": kerr.CoordinatorNotAvailable.Code, "g2": codeGroupAuth} {
		j := kmsg.NewPtrJoinGroupRequest()
		j.Group, j.ProtocolType, j.SessionTimeoutMillis = group, "consumer", 10000
		resp, err := alice.Broker(1).Request(ctx, j) // straight to the broker: no coordinator lookup
		if err != nil {
			t.Fatalf("JoinGroup %s: %v", group, err)
		}
		if got := resp.(*kmsg.JoinGroupResponse).ErrorCode; got != want {
			t.Fatalf("JoinGroup %s: %d, want %d", group, got, want)
		}
	}

	aliceAdm := kadm.NewClient(newClient(t, b.addr, saslOpt(MechPlain, "alice", testPassword)))
	topics, err := aliceAdm.ListTopics(ctx)
	if err != nil || len(topics) != 1 || !topics.Has("orders") {
		t.Fatalf("alice lists %v (%v), want only orders", topics.Names(), err)
	}
	cr, err := aliceAdm.CreateTopic(ctx, 1, 1, nil, "mine")
	if err == nil {
		err = cr.Err
	}
	if !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice create topic: %v", err)
	}
	dres, err := aliceAdm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err == nil && len(dres) > 0 {
		err = dres[0].Err
	}
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice DescribeACLs: %v", err)
	}
	if _, err := aliceAdm.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice DescribeUserSCRAMs: %v", err)
	}

	// The denied produce wrote nothing.
	ends, err := adm.ListEndOffsets(ctx, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("secret", 0); o.Offset != 0 {
		t.Fatalf("secret end offset %d, want 0", o.Offset)
	}

	// Described and deleted through the APIs; alice loses write.
	desc, err := adm.DescribeACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil || len(desc) != 1 || len(desc[0].Described) != 2 {
		t.Fatalf("DescribeACLs: %v %+v", err, desc)
	}
	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral).AllowHosts())
	if err != nil || len(del) != 1 || len(del[0].Deleted) != 1 {
		t.Fatalf("DeleteACLs: %v %+v", err, del)
	}
	p2 := newClient(t, b.addr, saslOpt(MechScramSHA256, "alice", testPassword), kgo.RequestRetries(0))
	if err := p2.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) &&
		!errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("produce after delete: %v", err)
	}
}

func TestACLsPersist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := aclOpts()
	b := startBrokerOn(t, newMemStore(), dir, opts...)
	cl := newClient(t, b.addr)
	req := kmsg.NewPtrCreateACLsRequest()
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = resTopic, "t", kmsg.ACLResourcePatternTypePrefixed
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", opRead, kmsg.ACLPermissionTypeAllow
	bad := c
	bad.ResourceType, bad.ResourceName = resCluster, "x"
	req.Creations = []kmsg.CreateACLsRequestCreation{c, bad}
	// ANONYMOUS may not alter the cluster.
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Results[0].ErrorCode != codeClusterAuth {
		t.Fatalf("anonymous CreateAcls: %v %+v", err, resp)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	// Let ANONYMOUS be a super user, create, restart, read back.
	opts = append(opts, withBrokerConfig("super.users", "User:ANONYMOUS"))
	b = startBrokerOn(t, newMemStore(), dir, opts...)
	resp, err = req.RequestWith(context.Background(), newClient(t, b.addr))
	if err != nil || resp.Results[0].ErrorCode != 0 || resp.Results[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("CreateAcls: %v %+v", err, resp)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b = startBrokerOn(t, newMemStore(), dir, opts...)
	d := kmsg.NewPtrDescribeACLsRequest()
	d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	dr, err := d.RequestWith(context.Background(), newClient(t, b.addr))
	if err != nil || len(dr.Resources) != 1 || dr.Resources[0].ResourceName != "t" || len(dr.Resources[0].ACLs) != 1 {
		t.Fatalf("after restart: %v %+v", err, dr)
	}
}

// TestACLsClientCertificatePrincipal: with client certificates required
// and no SASL, the certificate subject is the principal ACLs name.
func TestACLsClientCertificatePrincipal(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	b := startBroker(t, append(aclOpts(), withTLS(t, pki, true), withBrokerConfig("super.users", "User:CN=admin"))...)
	ctx := testCtx(t)
	if _, err := b.s.createTopic("orders", 1, nil, false); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr, kgo.DialTLSConfig(pki.clientTLS(t, true)), kgo.RequestRetries(0), kgo.RecordDeliveryTimeout(5*time.Second))
	rec := &kgo.Record{Topic: "orders", Value: []byte("x")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("produce before the ACL: %v", err)
	}
	if err := b.s.authz.add([]aclBinding{{ResourceType: resTopic, ResourceName: "orders", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:CN=alice", Host: "*", Operation: opWrite, Permission: kmsg.ACLPermissionTypeAllow}}); err != nil {
		t.Fatal(err)
	}
	cl2 := newClient(t, b.addr, kgo.DialTLSConfig(pki.clientTLS(t, true)))
	if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("produce as User:CN=alice: %v", err)
	}
}
