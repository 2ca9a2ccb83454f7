-- One fixed request per run, built once per wrk thread (same as the shared harness's common/wrk.lua).
-- Env: WRK_METHOD (GET), WRK_BODY, WRK_CTYPE, WRK_AUTH (bearer token).
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then wrk.body = body end
local ctype = os.getenv("WRK_CTYPE")
if ctype and ctype ~= "" then wrk.headers["Content-Type"] = ctype end
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
