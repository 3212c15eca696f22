// Starts the reference Bluesky servers (PLC + PDS, optionally AppView + ozone) for
// `departures sandbox`. Run by the pinned Node 22 runtime from the installed
// network directory, with one argument: a JSON config
//   {"base": 2580, "appview": true, "rateLimits": false, "postgresUrl": "...",
//    "postgresSchema": "departures", "readyFile": "/path/ready.json",
//    "watchPid": null, "onOrphan": null}
// With watchPid, it stops itself when that process is gone, then runs onOrphan (a command
// that stops PostgreSQL).
// It writes the ready file (URLs and ports) once every server answers, and closes the
// network cleanly on SIGTERM/SIGINT so that no port or child is left behind.
import { spawnSync } from 'node:child_process'
import dns from 'node:dns'
import { writeFileSync, renameSync } from 'node:fs'
import { TestNetwork, TestNetworkNoAppView } from '@atproto/dev-env'

const config = JSON.parse(process.argv[2])

// Names under config.localDomain resolve to 127.0.0.1 in this process only: an OAuth client
// must be https:// on a name the PDS does not refuse as local, and tests serve one on
// loopback (with a certificate of the sandbox's CA, trusted through NODE_EXTRA_CA_CERTS).
if (config.localDomain) {
  const suffix = String(config.localDomain).toLowerCase()
  const systemLookup = dns.lookup
  dns.lookup = function (hostname, options, callback) {
    if (typeof options === 'function') {
      callback = options
      options = {}
    } else if (typeof options === 'number') {
      options = { family: options }
    }
    const name = String(hostname).toLowerCase()
    if (name === suffix || name.endsWith(`.${suffix}`)) {
      if (options && options.all) {
        process.nextTick(callback, null, [{ address: '127.0.0.1', family: 4 }])
      } else {
        process.nextTick(callback, null, '127.0.0.1', 4)
      }
      return
    }
    return systemLookup.call(this, hostname, options, callback)
  }
}
const base = config.base
const pds = { port: base + 1, rateLimitsEnabled: Boolean(config.rateLimits) }

let network
try {
  if (config.appview) {
    network = await TestNetwork.create({
      dbPostgresUrl: config.postgresUrl,
      dbPostgresSchema: config.postgresSchema,
      plc: { port: base },
      pds,
      bsky: { port: base + 2 },
      ozone: { port: base + 3 },
    })
  } else {
    network = await TestNetworkNoAppView.create({ plc: { port: base }, pds })
  }
} catch (err) {
  // One line the Python side can show; the stack stays in the log for debugging.
  console.error(err && err.stack ? err.stack : err)
  console.error(`departures-sandbox: start failed: ${err && err.code ? err.code + ' ' : ''}${err && err.message ? err.message : err}`)
  process.exit(3)
}

const ready = {
  pid: process.pid,
  plcUrl: network.plc.url,
  pdsUrl: network.pds.url,
  appviewUrl: config.appview ? network.bsky.url : null,
  ozoneUrl: config.appview ? network.ozone.url : null,
}
const tmp = `${config.readyFile}.tmp`
writeFileSync(tmp, JSON.stringify(ready))
renameSync(tmp, config.readyFile)
console.log(`departures-sandbox: ready ${JSON.stringify(ready)}`)

let closing = false
const shutdown = async (signal, thenRun) => {
  if (closing) return
  closing = true
  console.log(`departures-sandbox: ${signal}, closing`)
  const finish = () => {
    // Nobody is left to stop PostgreSQL: the command to do it came with the config.
    if (thenRun && thenRun.length) spawnSync(thenRun[0], thenRun.slice(1), { stdio: 'inherit' })
    process.exit(0)
  }
  // A hung close must not keep the ports: give it a few seconds, then exit anyway.
  setTimeout(finish, 8000).unref()
  try {
    await network.close()
  } catch (err) {
    console.error(err && err.stack ? err.stack : err)
  }
  finish()
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
// A test session that dies without cleaning up (SIGKILL) must not leave the network behind.
if (config.watchPid) {
  setInterval(() => {
    try {
      process.kill(config.watchPid, 0)
    } catch {
      void shutdown(`parent ${config.watchPid} gone`, config.onOrphan)
    }
  }, 1000).unref()
}
process.on('SIGINT', () => void shutdown('SIGINT'))
