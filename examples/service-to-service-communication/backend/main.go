// backend/main.go — the backend of the docs' service-to-service example: GET /api/data answers
// with its hostname and the time, GET /health is the health check of ECS and of Cloud Map.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	http.HandleFunc("/api/data", func(w http.ResponseWriter, r *http.Request) {
		hostname, _ := os.Hostname()
		response := map[string]string{
			"hostname":  hostname,
			"timestamp": time.Now().Format(time.RFC3339),
			"message":   "Hello from backend",
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(response)
	})

	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		json.NewEncoder(w).Encode(map[string]string{"status": "healthy"})
	})

	serve(&http.Server{Addr: ":8080"})
}

// serve runs the server until SIGTERM or SIGINT (ECS stops a task with SIGTERM), then lets
// requests in flight finish. A server that cannot listen exits non-zero, so the task fails
// visibly instead of running without serving.
func serve(server *http.Server) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(shutdownCtx)
	}()
	log.Printf("listening on %s", server.Addr)
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("listen on %s: %v", server.Addr, err)
	}
}
