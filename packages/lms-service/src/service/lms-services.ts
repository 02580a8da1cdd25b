import type { Server } from "@grpc/grpc-js";
import {
  AssignmentServiceService,
  AuthServiceService,
  ClusterServiceService,
  CourseContentServiceService,
  CourseServiceService,
  FileServiceService,
  TutorServiceService,
} from "../gen/lms.js";
import { assignmentService } from "./assignment-service.js";
import { authService } from "./auth-service.js";
import { clusterService } from "./cluster-service.js";
import { courseContentService } from "./course-content-service.js";
import { courseService } from "./course-service.js";
import { fileService } from "./file-service.js";
import type { LmsServiceContext } from "./service-context.js";
import { tutorService } from "./tutor-service.js";

/**
 * Registers every client API service of lms.proto on `server` (the node's one gRPC server, which
 * also hosts the Raft peer service).
 * @param spoolDirectory where uploads are spooled while they stream in (cleared at node start).
 * @example
 * const server = new grpc.Server(nodeServerOptions());
 * addRaftPeerService(server, transport);
 * addLmsServices(server, context, join(dataDir, "upload-spool"));
 */
export function addLmsServices(server: Server, context: LmsServiceContext, spoolDirectory: string): void {
  server.addService(AuthServiceService, authService(context));
  server.addService(CourseServiceService, courseService(context));
  server.addService(AssignmentServiceService, assignmentService(context));
  server.addService(CourseContentServiceService, courseContentService(context));
  server.addService(FileServiceService, fileService(context, spoolDirectory));
  server.addService(TutorServiceService, tutorService(context));
  server.addService(ClusterServiceService, clusterService(context));
}
