-- wrk script for the scenariod benchmarks (benchmarks/run.py and scale.py set it up).
--
-- Configured by environment variables:
--   BENCH_METHOD   GET, POST, DELETE, ...                      (default GET)
--   BENCH_PATH     the path and query; "{n}" is replaced by a per-thread counter 1, 2, ...
--   BENCH_BODY     the request body (form-encoded); "{n}" as above            (optional)
--   BENCH_AUTH     the Authorization header value, e.g. PVEAPIToken=root@pam!ci=SECRET
--   BENCH_LIMIT    stop after this many responses (0: run for the whole -d duration)
--
-- One line "BENCH_JSON {...}" is printed at the end with the counts and latency
-- percentiles in microseconds; the harness parses it.

local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
if body == "" then body = nil end
local auth = os.getenv("BENCH_AUTH")
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0") or 0

local headers = {}
if auth and auth ~= "" then headers["Authorization"] = auth end
if body then headers["Content-Type"] = "application/x-www-form-urlencoded" end

local counted = (path:find("{n}", 1, true) ~= nil) or (body ~= nil and body:find("{n}", 1, true) ~= nil)

-- per thread (each wrk thread has its own Lua state); read back in done() via thread:get
counter = 0
responses = 0

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

if counted then
   request = function()
      counter = counter + 1
      local n = tostring(counter)
      local p = path:gsub("{n}", n)
      local b = body and body:gsub("{n}", n) or nil
      return wrk.format(method, p, headers, b)
   end
else
   -- a static request: wrk builds it once from the wrk table
   wrk.method = method
   wrk.path = path
   wrk.body = body
   for k, v in pairs(headers) do wrk.headers[k] = v end
end

if limit > 0 then
   response = function(status, hdrs, resp_body)
      responses = responses + 1
      if responses >= limit then
         wrk.thread:stop()
      end
   end
end

function done(summary, latency, requests)
   local issued = 0
   for _, t in ipairs(threads) do
      issued = issued + (t:get("counter") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"issued":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, issued,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
