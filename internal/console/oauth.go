package console

import "net/http"

// oauthPage lists OAuth clients and credentials with connect / re-authorize buttons, once the
// daemon serves the OAuth routes (internal/oauth).
func (c *Console) oauthPage(w http.ResponseWriter, r *http.Request, s session) {
	p := c.base(r, s, "OAuth", "oauth")
	c.render(w, http.StatusOK, "oauth.html", p)
}
