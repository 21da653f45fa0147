"""Second step of 0006: the experts' names and emails now live in ExpertContact.

Its own migration (transaction) because on PostgreSQL the contacts copied in 0006 leave
deferred foreign-key checks pending, and a table with pending trigger events cannot be
altered in the same transaction.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('elicitation', '0006_expert_contacts_and_link_versions'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='expert',
            name='email',
        ),
        migrations.RemoveField(
            model_name='expert',
            name='name',
        ),
        migrations.AddConstraint(
            model_name='expertcontact',
            constraint=models.UniqueConstraint(fields=('survey', 'email'), name='expert_contact_email_unique_in_survey'),
        ),
    ]
