package elasticsearch

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	es8 "github.com/elastic/go-elasticsearch/v8"
)

// newClient builds the go-elasticsearch client. Its own retries are off:
// Write retries with its own bounded backoff and knows which items failed.
func newClient(c *Config) (*es8.Client, *http.Transport, error) {
	ec := es8.Config{
		Addresses: c.urls(), Username: c.Username, Password: c.Password, APIKey: c.APIKey,
		DisableRetry: true, Transport: c.Transport,
	}
	var own *http.Transport
	if ec.Transport == nil {
		own = http.DefaultTransport.(*http.Transport).Clone()
		own.MaxIdleConnsPerHost = 16
		if c.InsecureSkipVerify {
			own.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit user opt-in for test servers
		}
		ec.Transport = own
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: ca_file: %v", ErrConfig, err)
		}
		ec.CACert = pem
	}
	cl, err := es8.NewClient(ec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return cl, own, nil
}

// httpError is a response Elasticsearch answered with a status >= 300.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// transient reports whether err is worth retrying: no answer at all, 429 or
// a 5xx.
func transient(err error) bool {
	he, ok := err.(*httpError) //nolint:errorlint // do returns it unwrapped
	return !ok || he.Status == http.StatusTooManyRequests || he.Status >= 500
}

// do sends one request and returns the status and body. A status >= 300
// other than those listed in ok is returned as *httpError.
func (s *Sink) do(ctx context.Context, method, path string, body []byte, ok ...int) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		if strings.HasPrefix(path, "/_bulk") {
			req.Header.Set("Content-Type", "application/x-ndjson")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	resp, err := s.es.Perform(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: reading response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		for _, st := range ok {
			if st == resp.StatusCode {
				return resp.StatusCode, b, nil
			}
		}
		if len(b) > 512 {
			b = b[:512]
		}
		return resp.StatusCode, nil, &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: string(b)}
	}
	return resp.StatusCode, b, nil
}

// aliasIndexes returns the concrete indexes behind alias, sorted; nil and no
// error when there is no such alias.
func (s *Sink) aliasIndexes(ctx context.Context, alias string) ([]string, error) {
	st, b, err := s.do(ctx, http.MethodGet, "/_alias/"+url.PathEscape(alias), nil, http.StatusNotFound)
	if err != nil {
		return nil, err
	}
	if st == http.StatusNotFound {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding aliases of %s: %w", alias, err)
	}
	out := make([]string, 0, len(m))
	for ix := range m {
		out = append(out, ix)
	}
	sort.Strings(out)
	return out, nil
}

// indexExists reports whether a concrete index (or alias) named name exists.
func (s *Sink) indexExists(ctx context.Context, name string) (bool, error) {
	st, _, err := s.do(ctx, http.MethodHead, "/"+url.PathEscape(name), nil, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	return st == http.StatusOK, nil
}

// createIndex creates name with the configured settings and mappings, and
// with alias pointing at it when alias is not empty (one request: the index
// never exists without its alias). It reports false when name exists.
func (s *Sink) createIndex(ctx context.Context, name, alias string) (bool, error) {
	body := s.createBody
	if alias != "" {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return false, err
		}
		aj, _ := json.Marshal(map[string]struct{}{alias: {}})
		m["aliases"] = aj
		var err error
		if body, err = json.Marshal(m); err != nil {
			return false, err
		}
	}
	st, b, err := s.do(ctx, http.MethodPut, "/"+url.PathEscape(name), body, http.StatusBadRequest)
	if err != nil {
		return false, err
	}
	if st == http.StatusBadRequest {
		if bytes.Contains(b, []byte("resource_already_exists_exception")) {
			return false, nil
		}
		return false, &httpError{Method: http.MethodPut, Path: "/" + name, Status: st, Body: string(b)}
	}
	return true, nil
}

// aliasAction is one action of POST /_aliases.
type aliasAction map[string]map[string]string

func (s *Sink) updateAliases(ctx context.Context, actions []aliasAction) error {
	b, err := json.Marshal(map[string]any{"actions": actions})
	if err != nil {
		return err
	}
	_, _, err = s.do(ctx, http.MethodPost, "/_aliases", b)
	return err
}

func (s *Sink) refresh(ctx context.Context, index string) error {
	_, _, err := s.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh", nil)
	return err
}

// deleteIndexes deletes the named concrete indexes (never a wildcard).
func (s *Sink) deleteIndexes(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	esc := make([]string, len(names))
	for i, n := range names {
		esc[i] = url.PathEscape(n)
	}
	_, _, err := s.do(ctx, http.MethodDelete, "/"+strings.Join(esc, ",")+"?expand_wildcards=none", nil, http.StatusNotFound)
	return err
}

// datedIndexes lists the concrete indexes named `<alias>-<17 digits>`.
func (s *Sink) datedIndexes(ctx context.Context, alias string) ([]string, error) {
	_, b, err := s.do(ctx, http.MethodGet, "/_cat/indices/"+url.PathEscape(alias)+"-*?format=json&h=index&expand_wildcards=all", nil)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Index string `json:"index"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("decoding index list: %w", err)
	}
	var out []string
	for _, r := range rows {
		if isDated(alias, r.Index) {
			out = append(out, r.Index)
		}
	}
	sort.Strings(out)
	return out, nil
}

// stampLen is the length of an index's timestamp: yyyymmddhhmmssSSS (UTC).
const stampLen = 17

func isDated(alias, name string) bool {
	rest, ok := strings.CutPrefix(name, alias+"-")
	if !ok || len(rest) != stampLen {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return false
		}
	}
	return true
}
