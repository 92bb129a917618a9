-- AlterTable
ALTER TABLE "Export" ADD COLUMN "checkpointId" TEXT;
ALTER TABLE "Export" ADD COLUMN "heartbeatAt" DATETIME;
ALTER TABLE "Export" ADD COLUMN "startedAt" DATETIME;
ALTER TABLE "Export" ADD COLUMN "workerId" TEXT;

