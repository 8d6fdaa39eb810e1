// Command outbox-orders is a small order service showing the transactional
// outbox: POST /orders writes the order row and its OrderPlaced event in one
// transaction with the outbox library, so the event exists iff the order
// does. Sluice (pipeline.yaml) routes the events to outbox.event.order.
//
//	ORDERS_PG_DSN=postgres://… ADDR=127.0.0.1:8080 go run ./examples/outbox-orders
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/outbox"
)

const ordersDDL = `CREATE TABLE IF NOT EXISTS orders (
    id          uuid PRIMARY KEY,
    customer    text NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
)`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("outbox-orders stopped", "err", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dsn := env("ORDERS_PG_DSN", "postgres://postgres@127.0.0.1:5432/orders?sslmode=disable")
	addr := env("ADDR", "127.0.0.1:8080")

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connecting to Postgres: %w", err)
	}
	defer pool.Close()
	ddl, err := outbox.DDL(outbox.Postgres, "public.outbox")
	if err != nil {
		return err
	}
	for _, q := range []string{ordersDDL, ddl} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("creating tables: %w", err)
		}
	}
	w, err := outbox.New(outbox.WithTable("public.outbox"))
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("POST /orders", &placeOrder{pool: pool, outbox: w, log: log})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }() // owned: run waits for it below
	log.Info("outbox-orders listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if lerr := <-errc; !errors.Is(lerr, http.ErrServerClosed) && err == nil {
		err = lerr
	}
	return err
}

type orderRequest struct {
	Customer   string `json:"customer"`
	TotalCents int64  `json:"total_cents"`
}

type placeOrder struct {
	pool   *pgxpool.Pool
	outbox *outbox.Writer
	log    *slog.Logger
}

func (h *placeOrder) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var req orderRequest
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Customer == "" || req.TotalCents < 0 {
		http.Error(rw, `want {"customer": "…", "total_cents": n >= 0}`, http.StatusBadRequest)
		return
	}
	id, err := outbox.NewID()
	if err != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	eventID, err := outbox.NewID() // set here: Write assigns missing IDs only in the slice it gets
	if err != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	payload, err := json.Marshal(map[string]any{"order_id": id, "customer": req.Customer, "total_cents": req.TotalCents})
	if err != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	ev := outbox.Event{ID: eventID, AggregateType: "order", AggregateID: id, Type: "OrderPlaced", Payload: payload,
		Headers: map[string]string{"source": "outbox-orders"}}
	// The order and its event commit together or not at all.
	err = pgx.BeginFunc(r.Context(), h.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(r.Context(), "INSERT INTO orders (id, customer, total_cents) VALUES ($1, $2, $3)", id, req.Customer, req.TotalCents); err != nil {
			return err
		}
		return h.outbox.Write(r.Context(), tx, ev)
	})
	if err != nil {
		h.log.Error("placing order", "err", err)
		http.Error(rw, "could not place the order", http.StatusInternalServerError)
		return
	}
	h.log.Info("order placed", "order_id", id, "event_id", ev.ID)
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(rw).Encode(map[string]string{"order_id": id, "event_id": ev.ID})
}
