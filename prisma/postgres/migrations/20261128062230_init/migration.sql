-- CreateTable
CREATE TABLE "User" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "scopes" TEXT NOT NULL,
    "label" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Dataset" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "type" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "rowCount" INTEGER NOT NULL,
    "columnCount" INTEGER NOT NULL,
    "schema" JSONB NOT NULL,
    "metadata" JSONB,
    "preview" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'uploaded',
    "fileName" TEXT NOT NULL,
    "filePath" TEXT NOT NULL,
    "checksum" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Dataset_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "DatasetTag" (
    "datasetId" TEXT NOT NULL,
    "tag" TEXT NOT NULL,
    "position" INTEGER NOT NULL,

    CONSTRAINT "DatasetTag_pkey" PRIMARY KEY ("datasetId","tag")
);

-- CreateTable
CREATE TABLE "Job" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "priority" INTEGER NOT NULL DEFAULT 0,
    "task" TEXT NOT NULL,
    "baseModel" TEXT NOT NULL,
    "architecture" TEXT,
    "datasetId" TEXT NOT NULL,
    "templateId" TEXT,
    "tuningId" TEXT,
    "modelConfig" JSONB NOT NULL,
    "datasetConfig" JSONB NOT NULL,
    "hyperparameters" JSONB NOT NULL,
    "resourcesConfig" JSONB NOT NULL,
    "outputConfig" JSONB NOT NULL,
    "optionsConfig" JSONB NOT NULL,
    "instanceType" TEXT NOT NULL,
    "instanceCount" INTEGER NOT NULL,
    "seed" INTEGER NOT NULL,
    "epoch" INTEGER,
    "totalEpochs" INTEGER NOT NULL,
    "step" INTEGER,
    "totalSteps" INTEGER,
    "percentage" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "metrics" JSONB,
    "backend" TEXT,
    "cpuUtilization" DOUBLE PRECISION,
    "memoryUsage" DOUBLE PRECISION,
    "gpuUtilization" DOUBLE PRECISION,
    "samplesPerSecond" DOUBLE PRECISION,
    "estimatedStartTime" TIMESTAMP(3),
    "estimatedCompletionTime" TIMESTAMP(3),
    "estimatedDuration" DOUBLE PRECISION,
    "startedAt" TIMESTAMP(3),
    "stoppedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "estimatedCost" DOUBLE PRECISION,
    "actualCost" DOUBLE PRECISION,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "workerId" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "deletedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Job_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "JobLog" (
    "id" SERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "level" TEXT NOT NULL,
    "severity" INTEGER NOT NULL,
    "message" TEXT NOT NULL,
    "step" INTEGER,
    "epoch" INTEGER,
    "metrics" JSONB,

    CONSTRAINT "JobLog_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "MetricPoint" (
    "id" SERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "step" INTEGER NOT NULL,
    "epoch" DOUBLE PRECISION,
    "value" DOUBLE PRECISION NOT NULL,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MetricPoint_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Checkpoint" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "step" INTEGER NOT NULL,
    "epoch" DOUBLE PRECISION NOT NULL,
    "path" TEXT NOT NULL,
    "sizeBytes" BIGINT NOT NULL,
    "metrics" JSONB,
    "isBest" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Checkpoint_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Evaluation" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "checkpointId" TEXT,
    "split" TEXT NOT NULL DEFAULT 'test',
    "sampleCount" INTEGER NOT NULL,
    "metrics" JSONB NOT NULL,
    "perClass" JSONB,
    "confusionMatrix" JSONB,
    "labels" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Evaluation_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TuningJob" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "baseJobId" TEXT,
    "templateId" TEXT,
    "baseConfig" JSONB NOT NULL,
    "parameters" JSONB NOT NULL,
    "strategy" JSONB NOT NULL,
    "objective" JSONB NOT NULL,
    "warmStartFrom" JSONB,
    "bestTrialId" TEXT,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "workerId" TEXT,
    "heartbeatAt" TIMESTAMP(3),
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "TuningJob_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Trial" (
    "id" TEXT NOT NULL,
    "tuningId" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "parameters" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "jobId" TEXT,
    "metrics" JSONB,
    "objectiveValue" DOUBLE PRECISION,
    "intermediate" JSONB,
    "prunedAtStep" INTEGER,
    "startedAt" TIMESTAMP(3),
    "completedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Trial_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Template" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "model" JSONB NOT NULL,
    "dataset" JSONB,
    "hyperparameters" JSONB,
    "resources" JSONB,
    "output" JSONB,
    "options" JSONB,
    "isPublic" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Template_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Export" (
    "id" TEXT NOT NULL,
    "jobId" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "options" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'processing',
    "estimatedTime" INTEGER,
    "filePath" TEXT,
    "fileName" TEXT,
    "sizeBytes" BIGINT,
    "sizeBeforeBytes" BIGINT,
    "checksum" TEXT,
    "metadata" JSONB,
    "errorCode" TEXT,
    "errorMessage" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Export_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "User_name_key" ON "User"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "ApiToken_userId_idx" ON "ApiToken"("userId");

-- CreateIndex
CREATE INDEX "Dataset_ownerId_createdAt_id_idx" ON "Dataset"("ownerId", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Dataset_ownerId_name_id_idx" ON "Dataset"("ownerId", "name", "id");

-- CreateIndex
CREATE INDEX "Dataset_ownerId_size_id_idx" ON "Dataset"("ownerId", "size", "id");

-- CreateIndex
CREATE INDEX "Dataset_ownerId_type_createdAt_id_idx" ON "Dataset"("ownerId", "type", "createdAt", "id");

-- CreateIndex
CREATE INDEX "DatasetTag_tag_datasetId_idx" ON "DatasetTag"("tag", "datasetId");

-- CreateIndex
CREATE INDEX "Job_ownerId_deletedAt_createdAt_id_idx" ON "Job"("ownerId", "deletedAt", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Job_ownerId_deletedAt_updatedAt_id_idx" ON "Job"("ownerId", "deletedAt", "updatedAt", "id");

-- CreateIndex
CREATE INDEX "Job_ownerId_deletedAt_name_id_idx" ON "Job"("ownerId", "deletedAt", "name", "id");

-- CreateIndex
CREATE INDEX "Job_ownerId_deletedAt_status_createdAt_id_idx" ON "Job"("ownerId", "deletedAt", "status", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Job_ownerId_deletedAt_baseModel_createdAt_id_idx" ON "Job"("ownerId", "deletedAt", "baseModel", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Job_deletedAt_createdAt_id_idx" ON "Job"("deletedAt", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Job_deletedAt_status_createdAt_id_idx" ON "Job"("deletedAt", "status", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Job_status_priority_createdAt_idx" ON "Job"("status", "priority", "createdAt");

-- CreateIndex
CREATE INDEX "Job_datasetId_status_idx" ON "Job"("datasetId", "status");

-- CreateIndex
CREATE INDEX "Job_tuningId_idx" ON "Job"("tuningId");

-- CreateIndex
CREATE INDEX "JobLog_jobId_timestamp_idx" ON "JobLog"("jobId", "timestamp");

-- CreateIndex
CREATE INDEX "JobLog_jobId_severity_timestamp_idx" ON "JobLog"("jobId", "severity", "timestamp");

-- CreateIndex
CREATE INDEX "MetricPoint_jobId_name_step_idx" ON "MetricPoint"("jobId", "name", "step");

-- CreateIndex
CREATE INDEX "Checkpoint_jobId_step_idx" ON "Checkpoint"("jobId", "step");

-- CreateIndex
CREATE UNIQUE INDEX "Evaluation_jobId_key" ON "Evaluation"("jobId");

-- CreateIndex
CREATE INDEX "TuningJob_ownerId_createdAt_idx" ON "TuningJob"("ownerId", "createdAt");

-- CreateIndex
CREATE INDEX "TuningJob_status_idx" ON "TuningJob"("status");

-- CreateIndex
CREATE UNIQUE INDEX "Trial_jobId_key" ON "Trial"("jobId");

-- CreateIndex
CREATE UNIQUE INDEX "Trial_tuningId_number_key" ON "Trial"("tuningId", "number");

-- CreateIndex
CREATE INDEX "Template_ownerId_createdAt_idx" ON "Template"("ownerId", "createdAt");

-- CreateIndex
CREATE INDEX "Template_isPublic_createdAt_idx" ON "Template"("isPublic", "createdAt");

-- CreateIndex
CREATE INDEX "Export_jobId_createdAt_idx" ON "Export"("jobId", "createdAt");

-- CreateIndex
CREATE INDEX "Export_status_idx" ON "Export"("status");

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Dataset" ADD CONSTRAINT "Dataset_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "DatasetTag" ADD CONSTRAINT "DatasetTag_datasetId_fkey" FOREIGN KEY ("datasetId") REFERENCES "Dataset"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Job" ADD CONSTRAINT "Job_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "JobLog" ADD CONSTRAINT "JobLog_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MetricPoint" ADD CONSTRAINT "MetricPoint_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Checkpoint" ADD CONSTRAINT "Checkpoint_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Evaluation" ADD CONSTRAINT "Evaluation_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TuningJob" ADD CONSTRAINT "TuningJob_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Trial" ADD CONSTRAINT "Trial_tuningId_fkey" FOREIGN KEY ("tuningId") REFERENCES "TuningJob"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Trial" ADD CONSTRAINT "Trial_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Template" ADD CONSTRAINT "Template_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Export" ADD CONSTRAINT "Export_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "Job"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Export" ADD CONSTRAINT "Export_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

