// kafkajs group consumer for cairn's compat tests: joins GROUP on TOPIC at
// BOOTSTRAP (from the beginning when the group has no committed offset),
// reads until EXPECT records arrived, commits them, leaves the group, and
// prints {"values": [...]} in the order read.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const toStderr = () => ({ namespace, level, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs ${level} ${namespace}: ${message} ${JSON.stringify(extra)}\n`)
}

async function main () {
  const expect = Number(process.env.EXPECT)
  const kafka = new Kafka({
    clientId: 'cairn-compat-kafkajs-group',
    brokers: [process.env.BOOTSTRAP],
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    connectionTimeout: 10000,
    requestTimeout: 30000
  })
  const consumer = kafka.consumer({ groupId: process.env.GROUP, sessionTimeout: 10000, heartbeatInterval: 500 })
  await consumer.connect()
  await consumer.subscribe({ topic: process.env.TOPIC, fromBeginning: true })
  const values = []
  let done
  const finished = new Promise(resolve => { done = resolve })
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ message }) => {
      values.push(message.value.toString())
      if (values.length >= expect) done()
    }
  })
  const timer = setTimeout(() => {
    process.stderr.write(`timed out with ${values.length} of ${expect} records\n`)
    process.exit(1)
  }, Number(process.env.TIMEOUT_S || '45') * 1000)
  await finished
  clearTimeout(timer)
  await consumer.disconnect() // commits what was read, then leaves
  process.stdout.write(JSON.stringify({ values }))
}

main().catch(err => {
  process.stderr.write(`kafkajs group consumer failed: ${err.stack || err}\n`)
  process.exit(1)
})
