/**
 * The `veridex` command. Trader commands default to the running devnet (its state file) and
 * take --sequencer-url / --rpc / --chain-id / --deployment / --key to point anywhere else.
 */
import { Command, Option, InvalidArgumentError } from 'commander'
import { type Address, type Hex, formatUnits, getAddress, isAddress, parseEther, parseUnits } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readDeployment, deployVeridex, type Deployment } from '../contracts/deploy.js'
import { l1Public, l1Wallet } from '../contracts/l1.js'
import { rollupAbi, sequencerInboxAbi } from '../contracts/out/artifacts.js'
import { genesisRoots } from '../executor/genesis.js'
import { depositCollateral, depositEth, finalizeWithdrawal, waitForWithdrawalProof } from '../bridge/client.js'
import { VeridexClient, VeridexRpcError, type MarketJson } from '../sdk/client.js'
import { ALL_MARKETS, ASSET_COLLATERAL, ASSET_ETH, ETH_QUANTUM_WEI, OrderType, TimeInForce, type GenesisConfig } from '../sdk/protocol.js'
import { readDevnetState, devnetGenesis, writeDeploymentFile, readGenesisFromDeploymentFile, addressOf, BTC_PERP, DEFAULT_L2_CHAIN_ID, DEVNET_STATE, type DevnetState } from './config.js'
import { AssertionStatus, readAssertion } from '../prover/proposer.js'
import { registerVm } from './vm.js'
import { registerDispute } from './dispute.js'
import { registerCensorship, sendViaL1, viaL1Options, l1Target } from './censorship.js'
import { clientLimits, withClientLimits } from './limits.js'

const program = new Command()
program
  .name('veridex')
  .description('Veridex: an optimistic rollup for derivatives trading. Trader commands talk to the running devnet unless told otherwise.')
  .showHelpAfterError()

// ---- shared options ---------------------------------------------------------------------------

interface Common { sequencerUrl?: string; rpc?: string; chainId?: string; deployment?: string; key?: string }

const withTarget = (c: Command) =>
  c
    .option('--sequencer-url <url>', 'sequencer JSON-RPC URL (default: the running devnet)')
    .option('--rpc <url>', 'L1 JSON-RPC URL (default: the running devnet)')
    .option('--chain-id <id>', 'L1 chain id (default: the running devnet)')
    .option('--deployment <file>', 'deployment JSON written by `veridex deploy` (default: the running devnet)')
    .option('--key <hex>', 'private key to sign with (default: devnet trader 0)')

function devnetOrFail(what: string): DevnetState {
  const s = readDevnetState()
  if (!s) throw new Error(`no ${what} given and no running devnet (${DEVNET_STATE}): start one with \`npm run devnet\`, or pass the option`)
  return s
}

function target(o: Common) {
  const dev = o.sequencerUrl && o.rpc && o.chainId && o.deployment && o.key ? undefined : readDevnetState()
  const need = (v: string | undefined, name: string, fromDev: () => string | undefined) => {
    const r = v ?? fromDev()
    if (!r) throw new Error(`--${name} is required when no devnet is running (start one with \`npm run devnet\`)`)
    return r
  }
  const sequencerUrl = need(o.sequencerUrl, 'sequencer-url', () => dev?.sequencerUrl)
  const key = need(o.key, 'key', () => dev?.keys.traders[0]) as Hex
  return {
    client: new VeridexClient(sequencerUrl),
    account: privateKeyToAccount(key),
    key,
    l1: async () => {
      const rpcUrl = need(o.rpc, 'rpc', () => dev?.l1.rpcUrl)
      const chainId = Number(need(o.chainId, 'chain-id', () => dev?.l1.chainId.toString()))
      const deployment: Deployment = o.deployment ? await readDeployment(o.deployment) : devnetOrFail('--deployment').deployment
      const cfg = { rpcUrl, chainId }
      return { cfg, pub: l1Public(cfg), wallet: l1Wallet(cfg, key), deployment }
    },
  }
}

const positiveDecimal = (v: string) => {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(v)) throw new InvalidArgumentError('expected a positive decimal number, e.g. 1.5')
  return v
}

/** How deep under its head L1 is read: a whole number of blocks (0 allowed), `safe` or `finalized`. */
const l1Depth = (v: string): number | 'safe' | 'finalized' => {
  if (v === 'safe' || v === 'finalized') return v
  if (!/^[0-9]{1,7}$/.test(v)) throw new InvalidArgumentError('expected a whole number of L1 blocks (e.g. 12), `safe` or `finalized`')
  return Number(v)
}

const addressArg = (v: string): Address => {
  if (!isAddress(v, { strict: false })) throw new InvalidArgumentError('expected a 0x-prefixed 20-byte address')
  return getAddress(v)
}

const assetOption = () => new Option('--asset <asset>', 'collateral (vUSD) or eth').choices(['collateral', 'eth']).default('collateral')

/** Human amount → engine quantums for an asset. */
const quantums = (asset: string, amount: string) => (asset === 'eth' ? parseEther(amount) / ETH_QUANTUM_WEI : parseUnits(amount, 6))

const show = (v: unknown) => console.log(JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? x.toString() : x), 2))

// ---- devnet and operators ---------------------------------------------------------------------

withClientLimits(program
  .command('devnet')
  .description('start anvil, deploy the contracts, fund test accounts, and run sequencer (with its liquidation keeper), verifier, proposer, challenger and an oracle feed (Ctrl-C stops)')
  .option('--port <port>', 'sequencer JSON-RPC port', '8547')
  .option('--host <host>', 'sequencer JSON-RPC bind address (0.0.0.0 inside a container)', '127.0.0.1')
  .option('--l1-port <port>', 'anvil port (default: any free port)')
  .option('--challenge-period <seconds>', 'Rollup challenge period', '5')
  .option('--batch-age <ms>', 'close a batch after this many milliseconds', '1000')
  .option('--oracle-feed <ms>', 'publish BTC-PERP and ETH-PERP oracle prices (a small random walk) this often; 0 publishes only the opening prices', '5000')
  .option('--max-oracle-age <seconds>', 'oracle prices older than this stop counting (default: 60 with the feed, 86400 without)'))
  .action(async (o) => {
    const { startDevnet, describeDevnet } = await import('./devnet.js')
    const dev = await startDevnet({
      port: Number(o.port), host: o.host, l1Port: o.l1Port ? Number(o.l1Port) : undefined, challengePeriodSeconds: Number(o.challengePeriod), batchMaxAgeMs: Number(o.batchAge),
      oracleFeedMs: Number(o.oracleFeed), maxOracleAgeSeconds: o.maxOracleAge ? Number(o.maxOracleAge) : undefined,
      ...clientLimits(o),
    })
    console.log(describeDevnet(dev.state))
    const stop = async () => {
      console.log('stopping devnet…')
      await dev.stop()
      process.exit(0)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

program
  .command('deploy')
  .description('deploy SequencerInbox, Rollup, Bridge, the one-step provers, DisputeGame and a test collateral token to any L1 (e.g. a public testnet)')
  .requiredOption('--rpc <url>', 'L1 JSON-RPC URL')
  .requiredOption('--chain-id <id>', 'L1 chain id (checked against the endpoint)')
  .requiredOption('--key <hex>', 'deployer private key (pays gas)')
  .option('--sequencer <address>', 'address allowed to post batches (default: the deployer)', addressArg)
  .option('--proposer <address>', 'first validator allowed to post assertions (default: the deployer)', addressArg)
  .option('--oracle <address>', 'oracle key address in the genesis config (default: the deployer)', addressArg)
  .option('--admin <address>', 'key that may add and update markets (default: the oracle)', addressArg)
  .option('--fee-account <address>', 'account that receives trading fees (default: the admin)', addressArg)
  .option('--max-oracle-age <seconds>', 'oracle prices older than this stop counting', '86400')
  .option('--l2-chain-id <id>', 'L2 chain id for EIP-712 signatures', String(DEFAULT_L2_CHAIN_ID))
  .option('--challenge-period <seconds>', 'Rollup challenge period', '3600')
  .option('--bond <eth>', 'assertion bond in ETH', '0.1')
  .option('--force-inclusion-delay <seconds>', 'delay before anyone may force-include a delayed message', '86400')
  .option('--dispute-clock <seconds>', "each party's total time per dispute game", '3600')
  .option('--challenge-bond <eth>', "a challenger's bond per dispute game in ETH (default: the assertion bond)")
  .option('--out <file>', 'where to write the deployment JSON', 'deployment.json')
  .action(async (o) => {
    const deployer = addressOf(o.key)
    const genesis: GenesisConfig = devnetGenesis(o.oracle ?? deployer, Number(o.l2ChainId), { admin: o.admin, feeAccount: o.feeAccount, maxOracleAgeSeconds: Number(o.maxOracleAge) })
    const roots = await genesisRoots(genesis)
    const d = await deployVeridex({
      rpcUrl: o.rpc,
      chainId: Number(o.chainId),
      deployerKey: o.key,
      sequencer: o.sequencer ?? deployer,
      proposer: o.proposer ?? deployer,
      moduleRoot: roots.moduleRoot,
      genesisMachineRoot: roots.machineRoot,
      genesisOutboxRoot: roots.outboxRoot,
      challengePeriodSeconds: BigInt(o.challengePeriod),
      bondWei: parseEther(o.bond),
      forceInclusionDelaySeconds: BigInt(o.forceInclusionDelay),
      disputeClockSeconds: BigInt(o.disputeClock),
      challengeBondWei: parseEther(o.challengeBond ?? o.bond),
      log: (l) => console.log(l),
    })
    writeDeploymentFile(o.out, d, genesis)
    console.log(`deployed; wrote ${o.out}`)
    show({ ...d, genesisStateRoot: roots.stateRoot })
  })

withClientLimits(program
  .command('node')
  .description('run sequencer (with its liquidation keeper), verifier, proposer (which defends its assertions) and challenger against any L1, for a deployment made by `veridex deploy`')
  .requiredOption('--rpc <url>', 'L1 JSON-RPC URL')
  .requiredOption('--chain-id <id>', 'L1 chain id (checked against the endpoint)')
  .requiredOption('--deployment <file>', 'deployment JSON from `veridex deploy`')
  .requiredOption('--sequencer-key <hex>', 'key of the address allowed to post batches')
  .option('--proposer-key <hex>', 'key of a Rollup validator; omit to run without a proposer')
  .option('--challenger-key <hex>', 'key that challenges wrong assertions (it needs ETH for the challenge bond); omit to run no challenger')
  .option('--trace-workers <n>', 'in-process dispute trace workers (add more with `veridex worker`)', '1')
  .option('--data-dir <dir>', 'where the journals live', '.veridex/node')
  .option('--port <port>', 'JSON-RPC port', '8547')
  .option('--host <host>', 'JSON-RPC bind address', '127.0.0.1')
  .option('--batch-age <ms>', 'close a batch after this many milliseconds', '2000')
  .option('--l1-poll <ms>', 'how often each L1 reader (verifier, deposits, proposer, dispute agents) reads L1; public endpoints meter requests', '2000')
  .option('--l1-confirmations <blocks|safe|finalized>', 'read L1 only this many blocks under its head, or only up to its `safe` or `finalized` block: deposits and L1-sent transactions wait that long before the sequencer includes them, and the verifier derives only from such blocks, so a reorg up to that depth cannot take back a deposit a batch consumed (on a public network: `finalized`, which no reorg takes back; deploy with a --force-inclusion-delay well above the time to finality). Default: 0 on a local L1 (chain id 31337 or 1337), `finalized` on any other', l1Depth)
  .option('--no-keeper', 'do not liquidate accounts under maintenance margin (anyone else may)'))
  .action(async (o) => {
    const { ensureRedis } = await import('./redis.js')
    const { startNode } = await import('./node.js')
    const d = await readDeployment(o.deployment)
    const genesis = readGenesisFromDeploymentFile(o.deployment)
    const redis = await ensureRedis((l) => console.log(l))
    const node = await startNode({
      rpcUrl: o.rpc, chainId: Number(o.chainId), deployment: d, genesis, sequencerKey: o.sequencerKey, proposerKey: o.proposerKey,
      challengerKey: o.challengerKey, traceWorkers: Number(o.traceWorkers),
      redisUrl: redis.url, dataDir: o.dataDir, port: Number(o.port), host: o.host, batchMaxAgeMs: Number(o.batchAge), l1PollMs: Number(o.l1Poll), keeper: o.keeper,
      l1Confirmations: o.l1Confirmations,
      ...clientLimits(o),
    })
    console.log(`veridex node: JSON-RPC ${node.url}, WebSocket ${node.wsUrl}`)
    const stop = async () => { await node.stop(); await redis.stop(); process.exit(0) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })

// ---- trader commands --------------------------------------------------------------------------

withTarget(program.command('deposit'))
  .description('deposit collateral or ETH from L1 into your L2 account (a delayed message the sequencer includes)')
  .requiredOption('--amount <amount>', 'amount in whole units (vUSD or ETH), e.g. 1000 or 0.5', positiveDecimal)
  .addOption(assetOption())
  .option('--to <address>', 'L2 account to credit (default: your own)', addressArg)
  .action(async (o) => {
    const t = target(o)
    const { pub, wallet, deployment } = await t.l1()
    const to = o.to ?? t.account.address
    const r = o.asset === 'eth'
      ? await depositEth(pub, wallet, deployment, to, parseEther(o.amount))
      : await depositCollateral(pub, wallet, deployment, to, parseUnits(o.amount, 6))
    console.log(`deposited ${o.amount} ${o.asset === 'eth' ? 'ETH' : 'vUSD'} for ${to}: delayed message ${r.delayedIndex} in L1 tx ${r.tx}`)
  })

/** A market by id or symbol (e.g. 1 or BTC-PERP), from the sequencer's list. */
async function resolveMarket(client: VeridexClient, m: string): Promise<MarketJson> {
  const markets = await client.markets()
  const found = markets.find((x) => String(x.id) === m || x.symbol.toLowerCase() === m.toLowerCase())
  if (!found) throw new Error(`unknown market ${m}: available ${markets.map((x) => `${x.id} (${x.symbol})`).join(', ')}`)
  return found
}

const usd = (q: bigint | string) => formatUnits(BigInt(q), 6)
/** Whole units of a market's base asset. */
const units = (m: MarketJson, q: bigint | string) => formatUnits(BigInt(q), m.sizeDecimals)
const ORDER_TYPES: Record<string, number> = { limit: OrderType.LIMIT, market: OrderType.MARKET, stop: OrderType.STOP_MARKET, 'take-profit': OrderType.TAKE_PROFIT_MARKET }
const TIFS: Record<string, number> = { gtc: TimeInForce.GTC, ioc: TimeInForce.IOC, fok: TimeInForce.FOK }
const typeName = (t: number) => Object.keys(ORDER_TYPES).find((k) => ORDER_TYPES[k] === t) ?? String(t)
const tifName = (t: number) => Object.keys(TIFS).find((k) => TIFS[k] === t) ?? String(t)

/** --expiry: a unix time, or (below 10^9) seconds from now. */
const expiryArg = (v: string): bigint => {
  if (!/^[0-9]+$/.test(v)) throw new InvalidArgumentError('expected seconds from now (e.g. 3600) or a unix time (e.g. 1767225600)')
  const n = BigInt(v)
  return n < 1_000_000_000n ? BigInt(Math.floor(Date.now() / 1000)) + n : n
}

/** USD → a price on the market's tick grid (refuses prices off the grid, as the engine would). */
function priceOf(m: MarketJson, v: string, what: string): bigint {
  const p = parseUnits(v, 6)
  if (p % BigInt(m.tickSize) !== 0n) throw new Error(`${what} ${v} is not a multiple of ${m.symbol}'s tick size $${usd(m.tickSize)}`)
  return p
}

function sizeOf(m: MarketJson, v: string): bigint {
  const decimals = v.split('.')[1]?.length ?? 0
  if (decimals > m.sizeDecimals) throw new Error(`size ${v} has more than ${m.sizeDecimals} decimals (${m.symbol}'s step is ${units(m, m.stepSize)})`)
  return parseUnits(v, m.sizeDecimals)
}

function orderLine(o: { orderId: string; market: number; isBuy: boolean; orderType: number; timeInForce: number; postOnly: boolean; reduceOnly: boolean; price: string; remaining: string; triggerPrice: string; expiry: string }, markets: MarketJson[]) {
  const m = markets.find((x) => x.id === o.market)!
  const flags = [o.postOnly && 'post-only', o.reduceOnly && 'reduce-only'].filter(Boolean).join(' ')
  return {
    orderId: o.orderId,
    market: m.symbol,
    side: o.isBuy ? 'buy' : 'sell',
    type: typeName(o.orderType),
    tif: tifName(o.timeInForce),
    price: usd(o.price),
    size: units(m, o.remaining),
    ...(o.triggerPrice !== '0' ? { trigger: usd(o.triggerPrice) } : {}),
    ...(o.expiry !== '0' ? { expiry: new Date(Number(o.expiry) * 1000).toISOString() } : {}),
    ...(flags ? { flags } : {}),
  }
}

withTarget(program.command('order'))
  .description('place an order: a limit order good till cancelled unless --type/--tif/--expiry say otherwise')
  .addOption(new Option('--side <side>', 'buy or sell').choices(['buy', 'sell']).makeOptionMandatory())
  .option('--price <usd>', 'limit price in USD on the tick grid; for market, stop and take-profit orders the worst fill price (a market order without it: the index ±5%)', positiveDecimal)
  .requiredOption('--size <units>', 'size in base units (e.g. BTC), a multiple of the step size', positiveDecimal)
  .option('--market <id|symbol>', 'market id or symbol', String(BTC_PERP.id))
  .addOption(new Option('--type <type>', 'order type; stop and take-profit fire as market orders when the index reaches --trigger').choices(['limit', 'market', 'stop', 'take-profit']).default('limit'))
  .addOption(new Option('--tif <tif>', 'time in force: gtc rests on the book, ioc cancels what does not fill at once, fok fills entirely or not at all (market orders are ioc)').choices(['gtc', 'ioc', 'fok']))
  .option('--post-only', 'refuse the order if it would take liquidity (limit gtc only)')
  .option('--reduce-only', 'only ever shrink the position (the size is capped to it)')
  .option('--trigger <usd>', 'index price that fires a stop or take-profit order', positiveDecimal)
  .option('--expiry <time>', 'good till this time: seconds from now (below 10^9) or a unix time', expiryArg)
viaL1Options(program.commands.at(-1)!)
  .action(async (o) => {
    if (o.viaL1) {
      const m = (await l1Target(o)).genesis.markets.find((x) => x.id === Number(o.market))
      if (!m) throw new Error(`unknown market ${o.market}`)
      return sendViaL1(o, { kind: 'Order', message: { market: m.id, isBuy: o.side === 'buy', price: parseUnits(o.price, 6), size: parseUnits(o.size, m.sizeDecimals), nonce: 0n } })
    }
    const t = target(o)
    const m = await resolveMarket(t.client, o.market)
    const orderType = ORDER_TYPES[o.type]!
    const trigger = orderType === OrderType.STOP_MARKET || orderType === OrderType.TAKE_PROFIT_MARKET
    if (trigger && !o.trigger) throw new Error(`--type ${o.type} needs --trigger <usd>`)
    if (!trigger && o.trigger) throw new Error('--trigger is only for --type stop or take-profit')
    const isBuy = o.side === 'buy'
    let price: bigint
    if (o.price) price = priceOf(m, o.price, '--price')
    else if (orderType === OrderType.MARKET) {
      const tick = BigInt(m.tickSize)
      const index = BigInt(m.index)
      if (index === 0n) throw new Error(`${m.symbol} has no index price yet: pass --price`)
      price = isBuy ? ((index * 105n) / 100n / tick + 1n) * tick : ((index * 95n) / 100n / tick) * tick
      if (price > BigInt(m.maxPrice)) price = (BigInt(m.maxPrice) / tick) * tick
    } else throw new Error(`--price is required for --type ${o.type}`)
    const tif = o.tif ? TIFS[o.tif]! : orderType === OrderType.LIMIT ? TimeInForce.GTC : TimeInForce.IOC
    const r = await t.client.placeOrder(t.account, {
      market: m.id, isBuy, price, size: sizeOf(m, o.size), orderType, timeInForce: tif,
      postOnly: o.postOnly ? true : undefined, reduceOnly: o.reduceOnly ? true : undefined,
      triggerPrice: trigger ? priceOf(m, o.trigger, '--trigger') : undefined, expiry: o.expiry,
    })
    show(r)
  })

withTarget(program.command('cancel'))
  .description('cancel one of your open orders')
  .argument('<orderId>', 'order id returned by `veridex order`')
viaL1Options(program.commands.at(-1)!)
  .action(async (orderId: string, o) => {
    if (o.viaL1) return sendViaL1(o, { kind: 'Cancel', message: { orderId: BigInt(orderId), nonce: 0n } })
    const t = target(o)
    show(await t.client.cancelOrder(t.account, BigInt(orderId)))
  })

withTarget(program.command('cancel-all'))
  .description('cancel all your open orders (resting and stops), in one market or every market')
  .option('--market <id|symbol>', 'only this market (default: all)')
  .action(async (o) => {
    const t = target(o)
    const market = o.market ? (await resolveMarket(t.client, o.market)).id : ALL_MARKETS
    show(await t.client.cancelAll(t.account, market))
  })

withTarget(program.command('replace'))
  .description('replace one of your resting limit orders by one at a new price and size (a new order id; time priority is lost)')
  .argument('<orderId>', 'order id returned by `veridex order`')
  .requiredOption('--price <usd>', 'new limit price in USD', positiveDecimal)
  .requiredOption('--size <units>', 'new size in base units', positiveDecimal)
  .action(async (orderId: string, o) => {
    const t = target(o)
    const old = await t.client.order(BigInt(orderId))
    if (!old) throw new Error(`order ${orderId} is not open (filled, cancelled or never placed): see \`veridex orders\``)
    const m = await resolveMarket(t.client, String(old.market))
    show(await t.client.replaceOrder(t.account, { orderId: BigInt(orderId), price: priceOf(m, o.price, '--price'), size: sizeOf(m, o.size) }))
  })

withTarget(program.command('orders'))
  .description('list your open orders (resting and untriggered stops), newest first')
  .option('--market <id|symbol>', 'only this market')
  .argument('[address]', 'account (default: your own)')
  .action(async (address: string | undefined, o) => {
    const t = target(o)
    const markets = await t.client.markets()
    const market = o.market ? (await resolveMarket(t.client, o.market)).id : undefined
    const orders = await t.client.openOrders(address ? addressArg(address) : t.account.address, market)
    show(orders.map((x) => orderLine(x, markets)))
  })

withTarget(program.command('markets'))
  .description('list the markets (genesis and added by the admin) with index, open interest and funding')
  .action(async (o) => {
    const t = target(o)
    const markets = await t.client.markets()
    show(markets.map((m) => ({
      id: m.id, symbol: m.symbol, kind: m.kindName, index: usd(m.index), indexFresh: m.indexFresh,
      openInterest: units(m, m.openInterest), fundingRatePerHour: `${Number(m.lastFundingRatePpb) / 1e7}%`,
      initialMargin: `${m.initialMarginPpm / 1e4}%`, maintenanceMargin: `${m.maintenanceMarginPpm / 1e4}%`,
      fees: `maker ${m.makerFeePpm / 1e4}% / taker ${m.takerFeePpm / 1e4}%`,
    })))
  })

withTarget(program.command('market'))
  .description('one market: its whole configuration and live state (index, open interest, funding, option settlement)')
  .argument('<market>', 'market id or symbol')
  .action(async (market: string, o) => {
    const t = target(o)
    const m = await resolveMarket(t.client, market)
    show({ ...m, human: { index: usd(m.index), tickSize: usd(m.tickSize), stepSize: units(m, m.stepSize), openInterest: units(m, m.openInterest), nextFunding: new Date(Number(m.nextFundingTime) * 1000).toISOString() } })
  })

withTarget(program.command('funding'))
  .description("a perpetual's funding: the current index and rate, the premium samples this hour, and the last hourly payments")
  .argument('<market>', 'market id or symbol')
  .action(async (market: string, o) => {
    const t = target(o)
    const m = await resolveMarket(t.client, market)
    const f = await t.client.fundingHistory(m.id)
    show({
      ...f,
      human: {
        nextFunding: f.nextFundingTime === '0' ? 'after the first batch with an index' : new Date(Number(f.nextFundingTime) * 1000).toISOString(),
        events: f.events.map((e) => ({ time: new Date(Number(e.time) * 1000).toISOString(), ratePerHour: `${Number(e.ratePpb) / 1e7}%` })),
      },
    })
  })

withTarget(program.command('account'))
  .description('show an L2 account: balances, equity, initial and maintenance margin, positions with entry price, PnL and pending funding')
  .argument('[address]', 'account (default: your own)')
  .action(async (address: string | undefined, o) => {
    const t = target(o)
    const a = await t.client.account(address ? addressArg(address) : t.account.address)
    const markets = await t.client.markets()
    show({
      ...a,
      human: {
        collateral: usd(a.balances[ASSET_COLLATERAL] ?? '0') + ' vUSD',
        eth: formatUnits(BigInt(a.balances[ASSET_ETH] ?? '0'), 9) + ' ETH',
        equity: usd(a.equity),
        initialMargin: usd(a.initialMarginRequired),
        maintenanceMargin: usd(a.maintenanceMarginRequired),
        available: usd(a.availableMargin),
        liquidatable: a.liquidatable,
        positions: a.positions.map((p) => {
          const m = markets.find((x) => x.id === p.market)!
          const size = BigInt(p.size)
          return {
            market: m.symbol,
            size: units(m, p.size),
            entryPrice: size === 0n ? undefined : usd((BigInt(p.entryNotional) * 10n ** BigInt(m.sizeDecimals)) / size),
            value: usd(p.value),
            unrealizedPnl: usd(p.unrealizedPnl),
            pendingFunding: usd(p.pendingFunding),
            openBuys: units(m, p.openBuys),
            openSells: units(m, p.openSells),
          }
        }),
      },
    })
  })

withTarget(program.command('withdraw'))
  .description('request a withdrawal to L1; finalize it with `veridex finalize-withdrawal` once confirmed')
  .requiredOption('--amount <amount>', 'amount in whole units (vUSD or ETH)', positiveDecimal)
  .addOption(assetOption())
  .option('--to <address>', 'L1 recipient (default: your own address)', addressArg)
viaL1Options(program.commands.at(-1)!)
  .action(async (o) => {
    if (o.viaL1) {
      const to = o.to ?? (await l1Target(o)).account.address
      return sendViaL1(o, { kind: 'Withdraw', message: { to, asset: o.asset === 'eth' ? ASSET_ETH : ASSET_COLLATERAL, amount: quantums(o.asset, o.amount), nonce: 0n } })
    }
    const t = target(o)
    const r = await t.client.withdraw(t.account, { to: o.to ?? t.account.address, asset: o.asset === 'eth' ? ASSET_ETH : ASSET_COLLATERAL, amount: quantums(o.asset, o.amount) })
    console.log(`withdrawal ${r.withdrawalIndex} accepted in batch ${r.batch}; finalize it on L1 once confirmed: veridex finalize-withdrawal ${r.withdrawalIndex} --wait`)
  })

withTarget(program.command('finalize-withdrawal'))
  .description('pay a withdrawal on L1 with its outbox proof (once its assertion is confirmed)')
  .argument('<index>', 'withdrawal index returned by `veridex withdraw`')
  .option('--wait', 'wait until the withdrawal is confirmed instead of failing')
  .action(async (index: string, o) => {
    const t = target(o)
    const { pub, wallet, deployment } = await t.l1()
    const proof = o.wait
      ? await waitForWithdrawalProof(t.client, BigInt(index), { onWait: (w) => console.log(`waiting: ${w}`), timeoutMs: 600_000 })
      : await t.client.withdrawalProof(BigInt(index))
    const r = await finalizeWithdrawal(pub, wallet, deployment, proof)
    console.log(`withdrawal ${index} paid on L1 in tx ${r.tx} (gas ${r.gasUsed}) against assertion ${proof.assertionId}`)
  })

withTarget(program.command('status'))
  .description('latest batch (sequencer and L1), latest assertion and latest confirmed state root')
  .action(async (o) => {
    const t = target(o)
    const { pub, deployment } = await t.l1()
    const [seq, batchCount, assertionCount, latestConfirmed] = await Promise.all([
      t.client.status(),
      pub.readContract({ address: deployment.inbox, abi: sequencerInboxAbi, functionName: 'batchCount' }) as Promise<bigint>,
      pub.readContract({ address: deployment.rollup, abi: rollupAbi, functionName: 'assertionCount' }) as Promise<bigint>,
      pub.readContract({ address: deployment.rollup, abi: rollupAbi, functionName: 'latestConfirmed' }) as Promise<bigint>,
    ])
    const latest = await readAssertion(pub, deployment.rollup, assertionCount - 1n)
    const confirmed = await readAssertion(pub, deployment.rollup, latestConfirmed)
    const statusName = (s: number) => Object.entries(AssertionStatus).find(([, v]) => v === s)?.[0] ?? String(s)
    show({
      sequencer: { openBatch: seq.openBatch, latestBatch: seq.latestBatch, latestPostedBatch: seq.latestPostedBatch },
      l1: { batches: batchCount },
      latestAssertion: { id: latest.id, status: statusName(latest.status), inboxPosition: latest.inboxPosition, stateRoot: latest.stateRoot },
      confirmed: { id: confirmed.id, inboxPosition: confirmed.inboxPosition, stateRoot: confirmed.stateRoot, outboxRoot: confirmed.outboxRoot },
    })
  })

const demo = program
  .command('demo')
  .description('run the whole path against the running devnet (or a fresh one): deposits, a trade, a batch on L1, a confirmed assertion, a withdrawal paid on L1')
  .option('--fresh', 'start a private devnet even if one is running')
  .action(async (o) => {
    const { runDemo } = await import('./demo.js')
    await runDemo({ fresh: Boolean(o.fresh) })
    process.exit(0)
  })
demo
  .command('fraud')
  .description('a fraud proof on a fresh private devnet: an evil proposer, the honest challenger, the bisection game move by move with gas, the bond paid, an honest assertion confirmed')
  .option('--verbose', "also print the node's log")
  .action(async (o) => {
    const { runFraudDemo } = await import('./demoFraud.js')
    await runFraudDemo({ verbose: Boolean(o.verbose) })
    process.exit(0)
  })

registerVm(program)
registerDispute(program)
registerCensorship(program)

program.parseAsync().catch((e: unknown) => {
  if (e instanceof VeridexRpcError) console.error(`error ${e.code}: ${e.message}${e.data ? `\n${JSON.stringify(e.data)}` : ''}`)
  else console.error(`error: ${(e as Error).message}`)
  process.exit(1)
})

