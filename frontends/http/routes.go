package httpfront

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// route is one method on one path. The table below is the whole HTTP
// interface; the OpenAPI document describes exactly these routes (a test
// holds the two together).
type route struct {
	method string
	path   string // "{name}" matches one non-empty path segment
	// access says who may use the route without credentials.
	access access
	serve  func(s *Server, ctx *fasthttp.RequestCtx, p params) outcome
}

type access int

const (
	authenticated access = iota // needs the http authentication when it is on
	open                        // health checks: never authenticated
	metricsAccess               // authenticated unless api.metrics_auth = false
)

func (r *route) public(s *Server) bool {
	return r.access == open || r.access == metricsAccess && !s.metricsAuth
}

// params are the values of a path's {name} segments.
type params map[string]string

// The paths of the interface.
const (
	clickToCallPath = "/clicktocall.html"
	indexPath       = "/"
	scriptPath      = "/app.js"
	chartsPath      = "/charts.js"
	stylePath       = "/console.css"
	tracePath       = "/api/v1/calls/{id}/trace"
	statsPath       = "/api/v1/stats/events"
	callsPath       = "/api/v1/calls"
	callPath        = "/api/v1/calls/{id}"
	eventsPath      = "/api/v1/calls/{id}/events"
	openAPIPath     = "/api/v1/openapi.json"
	metricsPath     = "/metrics"
	healthPath      = "/healthz"
	readyPath       = "/readyz"
	apiPrefix       = "/api/"
)

var routes = []route{
	{fasthttp.MethodGet, clickToCallPath, authenticated, (*Server).clickToCall},
	{fasthttp.MethodPost, clickToCallPath, authenticated, (*Server).clickToCall},
	{fasthttp.MethodGet, indexPath, authenticated, (*Server).index},
	{fasthttp.MethodHead, indexPath, authenticated, (*Server).index},
	{fasthttp.MethodGet, scriptPath, authenticated, (*Server).script},
	{fasthttp.MethodGet, chartsPath, authenticated, (*Server).charts},
	{fasthttp.MethodGet, stylePath, authenticated, (*Server).stylesheet},
	{fasthttp.MethodPost, callsPath, authenticated, (*Server).createCall},
	{fasthttp.MethodGet, callsPath, authenticated, (*Server).listCalls},
	{fasthttp.MethodGet, callPath, authenticated, (*Server).getCall},
	{fasthttp.MethodDelete, callPath, authenticated, (*Server).deleteCall},
	{fasthttp.MethodGet, eventsPath, authenticated, (*Server).callEvents},
	{fasthttp.MethodGet, tracePath, authenticated, (*Server).callTrace},
	{fasthttp.MethodGet, statsPath, authenticated, (*Server).statsEvents},
	{fasthttp.MethodGet, openAPIPath, authenticated, (*Server).openAPI},
	{fasthttp.MethodGet, metricsPath, metricsAccess, (*Server).metrics},
	{fasthttp.MethodGet, healthPath, open, (*Server).healthz},
	{fasthttp.MethodGet, readyPath, open, (*Server).readyz},
}

// match finds the route for method and path. When the path exists but not
// with this method, it returns no route and the Allow header value.
func (s *Server) match(method, path string) (*route, params, string) {
	var allow []string
	for i := range routes {
		r := &routes[i]
		p, ok := matchPath(r.path, path)
		if !ok {
			continue
		}
		if r.method == method {
			return r, p, ""
		}
		allow = append(allow, r.method)
	}
	return nil, nil, strings.Join(allow, ", ")
}

// matchPath matches path against a template with {name} segments.
func matchPath(template, path string) (params, bool) {
	if !strings.Contains(template, "{") {
		return nil, template == path
	}
	ts := strings.Split(template, "/")
	ps := strings.Split(path, "/")
	if len(ts) != len(ps) {
		return nil, false
	}
	p := params{}
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if ps[i] == "" {
				return nil, false
			}
			p[t[1:len(t)-1]] = ps[i]
			continue
		}
		if t != ps[i] {
			return nil, false
		}
	}
	return p, true
}

// writeError answers with status and the text naming the problem: JSON
// under /api/, an HTML page elsewhere.
func writeError(ctx *fasthttp.RequestCtx, status int, text string) {
	if strings.HasPrefix(string(ctx.Path()), apiPrefix) {
		writeJSONError(ctx, status, text)
		return
	}
	writeProblem(ctx, status, text)
}
