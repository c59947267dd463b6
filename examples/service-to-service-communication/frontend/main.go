// frontend/main.go — the frontend of the docs' service-to-service example: GET /health reports
// its own status and whether the backend, found by its Cloud Map DNS name, answers.
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

const backendURL = "http://backend-api.app.local:8080"

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		client := &http.Client{Timeout: 2 * time.Second}

		// Check backend connectivity
		backendStatus := "unknown"
		resp, err := client.Get(backendURL + "/health")
		if err != nil {
			backendStatus = "unreachable"
		} else {
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				backendStatus = "ok"
			} else {
				backendStatus = "unhealthy"
			}
		}

		response := map[string]string{
			"status":   "healthy",
			"frontend": "ok",
			"backend":  backendStatus,
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(response)
	})

	serve(&http.Server{Addr: ":3000"})
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
