import { defineModule } from '../platform/modules';
import { scheduleLoaders } from './loaders';
import { CalendarResolver, PayoutScheduleResolver } from './schedule.resolver';
import { ScheduleService } from './schedule.service';

export interface ScheduleServices {
  schedules: ScheduleService;
}

/** Calendars and payout schedules (cron, business-day delay), edited over GraphQL. */
export const schedulesModule = defineModule({
  name: 'schedules',
  tables: ['calendar', 'payout_schedule'],
  create: (): ScheduleServices => ({ schedules: new ScheduleService() }),
  resolvers: [CalendarResolver, PayoutScheduleResolver],
  loaders: ({ services }) => scheduleLoaders(services.schedules),
});
