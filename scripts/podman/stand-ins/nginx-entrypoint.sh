# Entrypoint of the nginx:1.27 stand-in (nginx.Containerfile), after the official image's
# 20-envsubst-on-templates.sh: each /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME,
# with only the variables that are set in the environment replaced, so nginx's own $variables stay.
set -eu
templates=/etc/nginx/templates
if [ "${1:-}" = nginx ] && [ -d "$templates" ]; then
  defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
  for template in "$templates"/*.template; do
    [ -f "$template" ] || continue
    output=/etc/nginx/conf.d/$(basename "$template" .template)
    echo "$0: rendering $template to $output" >&2
    envsubst "$defined" < "$template" > "$output"
  done
fi
exec "$@"
