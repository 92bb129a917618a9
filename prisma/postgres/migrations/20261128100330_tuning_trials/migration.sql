-- AlterTable
ALTER TABLE "TuningJob" ADD COLUMN     "endReason" TEXT;

-- AlterTable
ALTER TABLE "Trial" ADD COLUMN     "prunedAtEpoch" INTEGER,
ADD COLUMN     "statusReason" TEXT;

-- CreateIndex
CREATE INDEX "Trial_status_idx" ON "Trial"("status");

