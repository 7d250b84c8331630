package server

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	swaggerFiles "github.com/swaggo/files/v2"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var openAPIYAML []byte

// docsHTML is the Swagger UI page: the assets come from an embedded copy of
// Swagger UI (github.com/swaggo/files/v2), so /docs works offline.
const docsHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>agate API</title>
<link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="/docs/index.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
<noscript>The API is described by <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</noscript>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
`

// docsInitializer starts Swagger UI on the service's own document.
const docsInitializer = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

// OpenAPI returns the service's OpenAPI 3 document as JSON.
func OpenAPI() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	return b, nil
}

func (s *Server) openAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", s.openapi)
}

const docsCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'"

func (s *Server) docs(c *gin.Context) {
	c.Header("Content-Security-Policy", docsCSP)
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(docsHTML))
}

// docsAsset serves Swagger UI's files under /docs/.
func (s *Server) docsAsset(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	c.Header("Content-Security-Policy", docsCSP)
	switch name {
	case "", "index.html":
		c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(docsHTML))
		return
	case "swagger-initializer.js":
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", []byte(docsInitializer))
		return
	}
	b, err := fs.ReadFile(swaggerFiles.FS, name)
	if err != nil || strings.Contains(name, "/") {
		abort(c, errorf(http.StatusNotFound, "no documentation file %q", name))
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, ct, b)
}
