/* page.c — the dashboard: one static HTML page whose script reads the same
 * API (the browser sends the basic-auth credentials it was asked for). */
#include <string.h>

#include "admin/admin_int.h"

static const char PAGE[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>revmq</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin-bottom:1.5em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}"
    ".bad{color:#b00;font-weight:bold}.ok{color:#070}\n"
    "</style></head><body>\n"
    "<h1>revmq <span id=\"node\"></span></h1>\n<p id=\"status\">loading…</p>\n"
    "<h2>Listeners</h2><table id=\"listeners\"><thead><tr><th>id</th><th>bind</th><th>port</th>"
    "<th>connections</th><th>certificate expires</th><th>loaded</th></tr></thead><tbody></tbody>"
    "</table>\n"
    "<h2>CRLs</h2><table id=\"crls\"><thead><tr><th>source</th><th>issuer</th><th>entries</th>"
    "<th>next update</th><th>fresh</th><th>last fetch</th><th>result</th></tr></thead><tbody>"
    "</tbody></table>\n"
    "<h2>OCSP staples</h2><table id=\"staples\"><thead><tr><th>listener</th><th>responder</th>"
    "<th>status</th><th>next update</th><th>last error</th></tr></thead><tbody></tbody>"
    "</table>\n"
    "<h2>Clients</h2><table id=\"clients\"><thead><tr><th>client id</th><th>username</th>"
    "<th>address</th><th>listener</th><th>principal</th></tr></thead><tbody></tbody></table>\n"
    "<h2>Refusals in the last hour</h2><p id=\"refusals\"></p>\n"
    "<script>\n"
    "function cell(t){var d=document.createElement('td');d.textContent=t==null?'':String(t);"
    "return d}\n"
    "function fill(id,rows){var b=document.querySelector('#'+id+' tbody');b.textContent='';"
    "rows.forEach(function(r){var tr=document.createElement('tr');r.forEach(function(c){"
    "var td=cell(c&&c.t!==undefined?c.t:c);if(c&&c.cls)td.className=c.cls;tr.appendChild(td)});"
    "b.appendChild(tr)})}\n"
    "function get(p){return "
    "fetch(location.origin+'/api/v5/'+p,{credentials:'same-origin'}).then(function(r){"
    "if(!r.ok)throw new Error(p+': HTTP '+r.status);return r.json()})}\n"
    "function load(){Promise.all([get('revmq/status'),get('revmq/listeners'),get('revmq/crl'),"
    "get('revmq/ocsp'),get('clients?limit=1000')]).then(function(v){\n"
    "var st=v[0];document.getElementById('node').textContent=st.node+' '+st.version;"
    "document.getElementById('status').textContent=st.status+', up '+st.uptime+' s, '+"
    "st.connections+' connected';\n"
    "var rf=st.refusals_last_hour;document.getElementById('refusals').textContent="
    "'TLS handshakes refused: '+rf.tls_handshake_failed+'; authentication failures: '+"
    "rf.auth_failed;\n"
    "fill('listeners',v[1].listeners.map(function(l){return[l.id,l.bind,l.port,l.connections,"
    "l.tls?l.tls.not_after:'',l.tls?l.tls.loaded_at:'']}));\n"
    "var rows=[];v[2].sources.forEach(function(s){if(!s.crls.length)rows.push([s.source,'',"
    "'','',{t:'no CRL',cls:'bad'},s.last_fetch,s.last_result]);s.crls.forEach(function(c){"
    "var fresh=c.seconds_until_next_update>0;rows.push([s.source,c.issuer,c.entries,"
    "c.next_update,{t:fresh?'fresh':'stale',cls:fresh?'ok':'bad'},s.last_fetch,"
    "s.last_result])})});fill('crls',rows);\n"
    "fill('staples',v[3].staples.map(function(s){return[s.listener,s.responder,"
    "{t:s.status,cls:s.status==='good'?'ok':'bad'},s.next_update,s.last_error]}));\n"
    "fill('clients',v[4].data.map(function(c){return[c.clientid,c.username,c.ip_address+':'+"
    "c.port,c.listener,c.principal]}));\n"
    "document.body.setAttribute('data-loaded','1')}).catch(function(e){"
    "document.getElementById('status').textContent='error: '+e.message;"
    "document.body.setAttribute('data-loaded','error')})}\n"
    "load();setInterval(load,5000);\n"
    "</script></body></html>\n";

void api_page(struct rmq_admin *a, struct evhttp_request *req)
{
    (void)a;
    admin_reply_text(req, 200, "text/html; charset=utf-8", PAGE, sizeof PAGE - 1);
}
