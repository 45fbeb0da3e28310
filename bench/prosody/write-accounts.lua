-- Writes Prosody 0.12 internal_hashed account files directly, much faster than one
-- `prosodyctl register` (a whole Prosody start-up) per account.
--
-- usage: lua5.4 write-accounts.lua ACCOUNTS_FILE DATA_PATH HOST ITERATIONS [SHARD NSHARDS]
--
-- Each `user password` line becomes DATA_PATH/<host>/accounts/<user>.dat holding what
-- mod_auth_internal_hashed stores: a per-user random salt, the iteration count, and the SCRAM
-- StoredKey and ServerKey (RFC 5802 §3) in hex. Names are escaped the way util.datamanager does
-- (every non-alphanumeric byte as %xx). The keys are SCRAM-SHA-1 ones, Prosody's default
-- password_hash. Only the crypto comes from Prosody (its util.hashes C module).

package.cpath = "/usr/lib/prosody/?.so;" .. package.cpath
local hashes = require "util.hashes"

local accounts_file, data_path, host, iterations, shard, nshards = ...
iterations = tonumber(iterations)
shard, nshards = tonumber(shard or 0), tonumber(nshards or 1)
if not (accounts_file and data_path and host and iterations) then
	io.stderr:write("usage: write-accounts.lua ACCOUNTS_FILE DATA_PATH HOST ITERATIONS [SHARD NSHARDS]\n")
	os.exit(2)
end

local function encode(s)
	return (s:gsub("%W", function (c) return string.format("%%%02x", c:byte()); end))
end

local function to_hex(s)
	return (s:gsub(".", function (c) return string.format("%02x", c:byte()); end))
end

local dir = data_path .. "/" .. encode(host) .. "/accounts"
assert(os.execute("mkdir -p '" .. dir .. "'"))

local urandom = assert(io.open("/dev/urandom", "rb"))
local written, line_no = 0, 0
for line in io.lines(accounts_file) do
	local user, password = line:match("^(%S+)%s+(%S+)")
	if user and not line:match("^#") then
		line_no = line_no + 1
		if line_no % nshards == shard then
			-- Prosody looks accounts up by nodeprepped name; bench names are ASCII.
			user = user:lower()
			local salt = to_hex(urandom:read(16))
			local salted = hashes.pbkdf2_hmac_sha1(password, salt, iterations)
			local client_key = hashes.hmac_sha1(salted, "Client Key")
			local stored_key = hashes.sha1(client_key)
			local server_key = hashes.hmac_sha1(salted, "Server Key")
			local f = assert(io.open(dir .. "/" .. encode(user) .. ".dat", "w"))
			f:write(string.format(
				"return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = %q;\n" ..
				"\t[\"server_key\"] = %q;\n\t[\"stored_key\"] = %q;\n};\n",
				iterations, salt, to_hex(server_key), to_hex(stored_key)))
			f:close()
			written = written + 1
		end
	end
end
urandom:close()
io.stderr:write(string.format("write-accounts: %d accounts written to %s\n", written, dir))
