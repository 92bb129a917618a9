// The trainer's public entry. Training itself arrives with the trainer
// issue; until then the API queues jobs and this module only exposes the
// queue operations a trainer process performs.
export { claimNextJob } from './queue.ts'
