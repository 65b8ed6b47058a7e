package clientconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// The client operations on a cluster at any address: is it ready, wait
// until it is (wait-ready, operator cluster health), fail a namespace over
// (failover.go). They change nothing but what they are asked to.

// ErrNotReady reports a cluster that did not become ready in time.
var ErrNotReady = errors.New("cluster not ready")

// Poll calls once until it returns nil, an error final accepts (one that
// waiting does not mend; nil: none), an error of fatal (checked every
// round when not nil: a server that died ends the wait at once), or ctx
// ends (ErrNotReady with the last error). Each call gets at most 2 s; the
// rounds start 5 ms apart and back off to 100 ms.
func Poll(ctx context.Context, fatal func() error, final func(error) bool, once func(context.Context) error) error {
	step := 5 * time.Millisecond
	for {
		if fatal != nil {
			if err := fatal(); err != nil {
				return err
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last := once(callCtx)
		cancel()
		if last == nil {
			return nil
		}
		if errors.Is(last, ErrPermanent) || (final != nil && final(last)) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last error: %w)", ErrNotReady, ctx.Err(), last)
		case <-time.After(step):
		}
		step = min(step*2, 100*time.Millisecond)
	}
}

// Probe polls the cluster at conn until its frontend answers and every
// namespace is describable, without changing anything. Wrong credentials,
// TLS or host end it at once (ErrPermanent). It honours ctx.
func Probe(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string) error {
	return Poll(ctx, nil, nil, func(ctx context.Context) error {
		err := ProbeOnce(ctx, conn, namespaces)
		if Permanent(err) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	})
}

// ProbeOnce is one round of Probe: the frontend answers and every
// namespace is describable, now; it does not wait.
func ProbeOnce(ctx context.Context, conn grpc.ClientConnInterface, namespaces []string) error {
	wf := workflowservice.NewWorkflowServiceClient(conn)
	if _, err := wf.GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{}); err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	for _, ns := range namespaces {
		if _, err := wf.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns}); err != nil {
			return fmt.Errorf("namespace %q: %w", ns, err)
		}
	}
	return nil
}

// WaitReady polls the cluster at addr until its frontend answers and every
// namespace is describable, or ctx ends. It changes nothing on the
// cluster. When the namespaces are global (a replicating group), every
// cluster they replicate to must answer too, and all must be connected to
// each other; it then waits settle more, the time their services take to
// read the cluster list.
//
// tlsConfig, when not nil, is the client TLS config of a frontend that
// requires mTLS; token, when not empty, is the bearer token of a cluster
// with auth. Every cluster of a group takes the same.
func WaitReady(ctx context.Context, addr string, namespaces []string, tlsConfig *tls.Config, token string, settle time.Duration) error {
	conn, err := Dial(addr, tlsConfig, "", token)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if err := Probe(ctx, conn, namespaces); err != nil {
		return err
	}
	return waitPeers(ctx, conn, namespaces, tlsConfig, token, settle)
}

// WaitReadyz polls http://metricsAddr/readyz (devcluster's readiness:
// namespaces, search attributes, members) until it answers 200, or ctx
// ends. It returns the URL it polled, for messages.
func WaitReadyz(ctx context.Context, metricsAddr string) (string, error) {
	url := "http://" + metricsAddr + "/readyz"
	return url, Poll(ctx, nil, nil, func(ctx context.Context) error { return getReadyz(ctx, url) })
}

// getReadyz is one GET of a /readyz URL: nil on 200.
func getReadyz(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}
