package httpfront

import (
	_ "embed"

	"github.com/valyala/fasthttp"
)

// openAPIDocument describes every route of the interface; TestOpenAPI keeps
// it and the route table in step.
//
//go:embed openapi.json
var openAPIDocument []byte

//go:embed app.js
var appScript []byte

func (s *Server) openAPI(ctx *fasthttp.RequestCtx, _ params) outcome {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.SetBody(openAPIDocument)
	return outcome{}
}

// metrics is GET /metrics, the Prometheus exposition.
func (s *Server) metrics(ctx *fasthttp.RequestCtx, _ params) outcome {
	if s.metricsFast == nil {
		writeError(ctx, fasthttp.StatusNotFound, "No page at "+metricsPath)
		return outcome{problem: "no metrics"}
	}
	s.metricsFast(ctx)
	return outcome{}
}

// healthz is GET /healthz: the process is up and serving HTTP.
func (s *Server) healthz(ctx *fasthttp.RequestCtx, _ params) outcome {
	writeText(ctx, fasthttp.StatusOK, "ok\n")
	return outcome{}
}

// readyz is GET /readyz: 200 while the engine accepts calls, 503 once it
// does not (shutting down) so a load balancer sends requests elsewhere. In
// a cluster a second line tells the membership; a node whose cluster is
// unavailable still places calls, so it stays ready.
func (s *Server) readyz(ctx *fasthttp.RequestCtx, _ params) outcome {
	membership := ""
	if s.peers != nil {
		membership = s.peers.Status() + "\n"
	}
	if s.isClosing() || (s.ready != nil && !s.ready()) {
		writeText(ctx, fasthttp.StatusServiceUnavailable, "not ready\n"+membership)
		return outcome{problem: "not ready"}
	}
	writeText(ctx, fasthttp.StatusOK, "ready\n"+membership)
	return outcome{}
}

func writeText(ctx *fasthttp.RequestCtx, status int, text string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBodyString(text)
}

// index is GET / : the operator console.
func (s *Server) index(ctx *fasthttp.RequestCtx, _ params) outcome {
	writePage(ctx, fasthttp.StatusOK, indexPage, nil)
	// The page's scripts and styles come from this server and talk only to it.
	ctx.Response.Header.Set(fasthttp.HeaderContentSecurityPolicy, consolePolicy)
	return outcome{}
}

// script is GET /app.js, the index page's script.
func (s *Server) script(ctx *fasthttp.RequestCtx, _ params) outcome {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/javascript; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderXContentTypeOptions, "nosniff")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.SetBody(appScript)
	return outcome{}
}
