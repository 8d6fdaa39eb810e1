package admin

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

// User is a SASL/SCRAM user and its credentials (never the secrets).
type User struct {
	Name        string
	Credentials []UserCredential
}

// UserCredential is one SCRAM mechanism of a user.
type UserCredential struct {
	Mechanism  string // SCRAM-SHA-256 or SCRAM-SHA-512
	Iterations int32
}

// ErrBadMechanism reports a SCRAM mechanism name other than SCRAM-SHA-256
// or SCRAM-SHA-512.
var ErrBadMechanism = errors.New("admin: mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512")

func scramMechanism(name string) (kadm.ScramMechanism, error) {
	switch name {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrBadMechanism, name)
}

// SetUser creates or replaces user's SCRAM credential for mechanism
// (AlterUserScramCredentials; the salted password is derived here, the
// password itself never leaves the process). iterations 0 means 4096.
func (a *Admin) SetUser(ctx context.Context, user, mechanism, password string, iterations int32) error {
	m, err := scramMechanism(mechanism)
	if err != nil {
		return err
	}
	if iterations == 0 {
		iterations = 4096
	}
	res, err := a.ac.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: m, Iterations: iterations, Password: password}})
	if err == nil {
		err = res[user].Err
	}
	if err != nil {
		return fmt.Errorf("setting credential of user %s: %w%s", user, err, detail(res[user].ErrMessage))
	}
	return nil
}

// DeleteUser deletes user's credentials: the given mechanisms, or every
// mechanism it has.
func (a *Admin) DeleteUser(ctx context.Context, user string, mechanisms ...string) error {
	if len(mechanisms) == 0 {
		d, err := a.ac.DescribeUserSCRAMs(ctx, user)
		if err == nil {
			err = d[user].Err
		}
		if err != nil {
			return fmt.Errorf("describing user %s: %w", user, err)
		}
		for _, ci := range d[user].CredInfos {
			mechanisms = append(mechanisms, ci.Mechanism.String())
		}
	}
	var dels []kadm.DeleteSCRAM
	for _, name := range mechanisms {
		m, err := scramMechanism(name)
		if err != nil {
			return err
		}
		dels = append(dels, kadm.DeleteSCRAM{User: user, Mechanism: m})
	}
	res, err := a.ac.AlterUserSCRAMs(ctx, dels, nil)
	if err == nil {
		err = res[user].Err
	}
	if err != nil {
		return fmt.Errorf("deleting user %s: %w%s", user, err, detail(res[user].ErrMessage))
	}
	return nil
}

// ListUsers lists every SCRAM user, by name.
func (a *Admin) ListUsers(ctx context.Context) ([]User, error) {
	d, err := a.ac.DescribeUserSCRAMs(ctx)
	if err == nil {
		err = d.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	out := make([]User, 0, len(d))
	for name, r := range d {
		u := User{Name: name}
		for _, ci := range r.CredInfos {
			u.Credentials = append(u.Credentials, UserCredential{Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
		}
		sort.Slice(u.Credentials, func(i, j int) bool { return u.Credentials[i].Mechanism < u.Credentials[j].Mechanism })
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
