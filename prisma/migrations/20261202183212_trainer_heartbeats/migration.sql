-- CreateTable
CREATE TABLE "TrainerHeartbeat" (
    "workerId" TEXT NOT NULL PRIMARY KEY,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "seenAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "TrainerHeartbeat_seenAt_idx" ON "TrainerHeartbeat"("seenAt");

