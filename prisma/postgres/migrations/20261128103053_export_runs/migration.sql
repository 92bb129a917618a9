-- AlterTable
ALTER TABLE "Export" ADD COLUMN     "checkpointId" TEXT,
ADD COLUMN     "heartbeatAt" TIMESTAMP(3),
ADD COLUMN     "startedAt" TIMESTAMP(3),
ADD COLUMN     "workerId" TEXT;

