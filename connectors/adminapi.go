package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin API paths, served by Handler next to /metrics, /healthz, /readyz.
const (
	// APIStatus: GET, the Status as JSON.
	APIStatus = "/api/v1/status"
	// APIRebuildPattern: POST /api/v1/pipelines/{pipeline}/sinks/{sink}/rebuild
	// starts a rebuild: 202 and {"status":"started"}; 404 for an unknown
	// pipeline or sink; 409 while one runs.
	APIRebuildPattern = "POST /api/v1/pipelines/{pipeline}/sinks/{sink}/rebuild"
)

// RebuildPath is the admin API path that rebuilds pipeline/sink.
func RebuildPath(pipeline, sink string) string {
	return "/api/v1/pipelines/" + url.PathEscape(pipeline) + "/sinks/" + url.PathEscape(sink) + "/rebuild"
}

// APIError is the body of every admin API error response.
type APIError struct {
	Error string `json:"error"`
}

// Handler serves /metrics (from g), /healthz (the process is up), /readyz
// (Ready, 503 listing the problems) and the admin API.
func (r *Runtime) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := r.Ready(ctx); err != nil {
			http.Error(w, "not ready:\n"+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET "+APIStatus, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, r.Status())
	})
	mux.HandleFunc(APIRebuildPattern, func(w http.ResponseWriter, req *http.Request) {
		err := r.Rebuild(req.PathValue("pipeline"), req.PathValue("sink"))
		switch {
		case err == nil:
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "started"})
		case errors.Is(err, ErrUnknownPipeline), errors.Is(err, ErrUnknownSink):
			writeJSON(w, http.StatusNotFound, APIError{err.Error()})
		case errors.Is(err, ErrRebuildInProgress):
			writeJSON(w, http.StatusConflict, APIError{err.Error()})
		default:
			writeJSON(w, http.StatusInternalServerError, APIError{err.Error()})
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
