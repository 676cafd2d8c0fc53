-- wrk script of bench/metrics_load.py: replays pre-signed PutMetricData
-- requests. LOAD_DIR holds N.head ("Name: value" lines) and N.body (the
-- exact bytes botocore signed) for N in 0 .. LOAD_COUNT-1; each thread
-- cycles through them from its own starting point. done() prints one JSON
-- line: the answered requests, the status errors (non-2xx/3xx), socket
-- errors and the latency percentiles.

local dir = os.getenv("LOAD_DIR")
local count = tonumber(os.getenv("LOAD_COUNT"))
local prepared = {}
local next_index = 0

local function read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

local counter = 0
function setup(thread)
  thread:set("first", counter)
  counter = counter + 1
end

function init(args)
  for k = 0, count - 1 do
    local headers = {}
    local path = "/"
    for line in read(dir .. "/" .. k .. ".head"):gmatch("[^\n]+") do
      local name, value = line:match("^(:?[^:]+): (.*)$")
      if name == ":path" then
        path = value
      elseif name then
        headers[name] = value
      end
    end
    prepared[k + 1] = wrk.format("POST", path, headers, read(dir .. "/" .. k .. ".body"))
  end
  next_index = (first or 0) * 7 % count
end

function request()
  next_index = next_index % count + 1
  return prepared[next_index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, "connect_errors": %d, '
      .. '"read_errors": %d, "write_errors": %d, "timeouts": %d, "p50_ms": %.2f, "p99_ms": %.2f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
